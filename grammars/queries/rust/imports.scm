; Imports for chorus' extractor (core/src/extract.c). @use is the argument
; of a `use` declaration, walked by the extractor: `use a::b` gives spec
; "a::b"; `use a::{b, c}` spec "a" with names "b,c"; `use a::*` spec "a"
; with name "*"; nested lists give one import per path. `mod x;` is an
; import of "x" relative to the file.
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.
(use_declaration
  argument: (_) @use) @import.module

(mod_item
  name: (identifier) @spec
  !body) @import.relative

(extern_crate_declaration
  name: (identifier) @spec) @import.module
