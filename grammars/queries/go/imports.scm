; Imports for chorus' extractor (core/src/extract.c): @import.module is the
; import spec, @spec its path (quotes removed).
(import_spec
  path: (_) @spec) @import.module
