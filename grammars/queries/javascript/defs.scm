; Definitions chorus needs beyond upstream tags.scm (which it runs too; on
; the same name range these patterns win). See core/src/extract.c for the
; capture conventions. Earlier patterns win over later ones on the same
; name. `export`, `const`/`let`/`var` around a definition become part of its
; range and signature; a `const` whose name is all capitals is a constant.
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.

; Upstream skips constructors (a #not-eq? predicate); they are methods here.
(method_definition
  name: [(property_identifier) (private_property_identifier)] @name) @definition.method

(class_declaration
  name: (_) @name) @definition.class

(function_declaration
  name: (identifier) @name) @definition.function

(generator_function_declaration
  name: (identifier) @name) @definition.function

(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function

(field_definition
  property: [(property_identifier) (private_property_identifier)] @name) @definition.field

; Module-level variables only (not locals).
(program
  (lexical_declaration
    (variable_declarator
      name: (identifier) @name) @definition.variable))
(program
  (variable_declaration
    (variable_declarator
      name: (identifier) @name) @definition.variable))
(program
  (export_statement
    declaration: (lexical_declaration
      (variable_declarator
        name: (identifier) @name) @definition.variable)))
(program
  (export_statement
    declaration: (variable_declaration
      (variable_declarator
        name: (identifier) @name) @definition.variable)))
