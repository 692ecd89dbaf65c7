; Imports for chorus' extractor (core/src/extract.c): @import.auto is the
; statement (relative when the module starts with a dot, else a module),
; @spec the module as written, @name each imported name.
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.
(import_statement
  name: (dotted_name) @spec) @import.auto

(import_statement
  name: (aliased_import
    name: (dotted_name) @spec)) @import.auto

(import_from_statement
  module_name: (_) @spec
  name: (dotted_name) @name) @import.auto

(import_from_statement
  module_name: (_) @spec
  name: (aliased_import
    name: (dotted_name) @name)) @import.auto

(import_from_statement
  module_name: (_) @spec
  (wildcard_import) @name) @import.auto
