; inherits: javascript
; TypeScript imports: every JavaScript form (javascript/imports.scm), plus
; `import x = require("./m")`. tsx/imports.scm inherits this file.

(import_statement
  (import_require_clause
    source: (string) @spec)) @import.auto
