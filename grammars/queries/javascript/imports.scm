; Imports for chorus' extractor (core/src/extract.c): @import.auto is the
; statement or call (relative when the spec starts with . or /, else a
; package), @spec the string, @name each imported name as exported by the
; module (@name.default: "default", @name.star: "*").
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.
(import_statement
  (import_clause
    (identifier) @name.default)
  source: (string) @spec) @import.auto

(import_statement
  (import_clause
    (named_imports
      (import_specifier
        name: (_) @name)))
  source: (string) @spec) @import.auto

(import_statement
  (import_clause
    (namespace_import) @name.star)
  source: (string) @spec) @import.auto

(import_statement
  source: (string) @spec) @import.auto

(export_statement
  (export_clause
    (export_specifier
      name: (_) @name))
  source: (string) @spec) @import.auto

(export_statement
  "*" @name.star
  source: (string) @spec) @import.auto

(export_statement
  source: (string) @spec) @import.auto

(call_expression
  function: (identifier) @_fn
  arguments: (arguments
    .
    (string) @spec
    .)
  (#eq? @_fn "require")) @import.auto

(call_expression
  function: (import)
  arguments: (arguments
    .
    (string) @spec
    .)) @import.auto
