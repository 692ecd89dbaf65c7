; Imports for chorus' extractor (core/src/extract.c): @import.<kind> is the
; statement, @spec what it names (quotes and <> are removed).
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.
(preproc_include
  path: (string_literal) @spec) @import.local

(preproc_include
  path: (system_lib_string) @spec) @import.system
