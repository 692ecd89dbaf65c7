; Definitions chorus needs beyond upstream tags.scm (javascript's and
; typescript's, which it runs too; on the same name range these patterns
; win). See core/src/extract.c for the capture conventions. Earlier
; patterns win over later ones on the same name. `export`, `declare` and
; `const`/`let`/`var` around a definition become part of its range and
; signature; a `const` whose name is all capitals is a constant.
; tsx/defs.scm inherits this file.
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.

; Upstream skips constructors (a #not-eq? predicate); they are methods here.
(method_definition
  name: [(property_identifier) (private_property_identifier)] @name) @definition.method

(method_signature
  name: (property_identifier) @name) @definition.method

(abstract_method_signature
  name: (property_identifier) @name) @definition.method

(class_declaration
  name: (_) @name) @definition.class

(abstract_class_declaration
  name: (_) @name) @definition.class

(interface_declaration
  name: (_) @name) @definition.interface

(type_alias_declaration
  name: (_) @name) @definition.type

(enum_declaration
  name: (_) @name) @definition.enum

(internal_module
  name: [(identifier) (nested_identifier)] @name) @definition.module

(module
  name: [(identifier) (nested_identifier)] @name) @definition.module

(function_declaration
  name: (identifier) @name) @definition.function

(function_signature
  name: (identifier) @name) @definition.function

(generator_function_declaration
  name: (identifier) @name) @definition.function

(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function

(public_field_definition
  name: [(property_identifier) (private_property_identifier)] @name) @definition.field

(property_signature
  name: (property_identifier) @name) @definition.field

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
(program
  (ambient_declaration
    (lexical_declaration
      (variable_declarator
        name: (identifier) @name) @definition.variable)))
(program
  (ambient_declaration
    (variable_declaration
      (variable_declarator
        name: (identifier) @name) @definition.variable)))

(enum_body
  name: (property_identifier) @name @definition.constant)
(enum_assignment
  name: (property_identifier) @name) @definition.constant

; Variables of a namespace.
(internal_module
  body: (statement_block
    (lexical_declaration
      (variable_declarator
        name: (identifier) @name) @definition.variable)))
(internal_module
  body: (statement_block
    (export_statement
      declaration: (lexical_declaration
        (variable_declarator
          name: (identifier) @name) @definition.variable))))
