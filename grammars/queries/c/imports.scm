; Imports for chorus' extractor (core/src/extract.c): @import.<kind> is the
; statement, @spec what it names (quotes and <> are removed).
(preproc_include
  path: (string_literal) @spec) @import.local

(preproc_include
  path: (system_lib_string) @spec) @import.system
