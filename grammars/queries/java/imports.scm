; Imports for chorus' extractor (core/src/extract.c): @import.module is the
; declaration, @spec spans the imported name and the `*` of an on-demand
; import ("a.b.*"); `static` is left out.
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.
(import_declaration
  [(identifier) (scoped_identifier)] @spec
  (asterisk)? @spec) @import.module
