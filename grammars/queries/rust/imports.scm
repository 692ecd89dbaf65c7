; Imports for chorus' extractor (core/src/extract.c). @use is the argument
; of a `use` declaration, walked by the extractor: `use a::b` gives spec
; "a::b"; `use a::{b, c}` spec "a" with names "b,c"; `use a::*` spec "a"
; with name "*"; nested lists give one import per path. `mod x;` is an
; import of "x" relative to the file.
(use_declaration
  argument: (_) @use) @import.module

(mod_item
  name: (identifier) @spec
  !body) @import.relative

(extern_crate_declaration
  name: (identifier) @spec) @import.module
