; Imports for chorus' extractor (core/src/extract.c): @import.module is the
; declaration, @spec spans the imported name and the `*` of an on-demand
; import ("a.b.*"); `static` is left out.
(import_declaration
  [(identifier) (scoped_identifier)] @spec
  (asterisk)? @spec) @import.module
