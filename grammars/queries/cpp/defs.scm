; Definitions chorus needs beyond upstream tags.scm (which it runs too; on
; the same name range these patterns win). Conventions of chorus' extractor
; (core/src/extract.c):
;   @definition.<kind>  the definition node; kinds are those of ch_def_kind
;   @name               its name
;   @name.declarator    a declarator whose name is found by following its
;                       `declarator` fields (and `name` of qualified names,
;                       whose innermost scope becomes the owner); a variable
;                       or field whose name sits directly in a
;                       function_declarator becomes a function or method
; Earlier patterns win over later ones on the same name.
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.

; Members: methods defined or declared in a class body, and data members.
(field_declaration_list
  (function_definition
    declarator: (_) @name.declarator) @definition.method)
(field_declaration_list
  (declaration
    declarator: (_) @name.declarator) @definition.method)
(field_declaration_list
  (template_declaration
    (function_definition
      declarator: (_) @name.declarator) @definition.method))
(field_declaration_list
  (template_declaration
    (declaration
      declarator: (_) @name.declarator) @definition.method))
(field_declaration_list
  (field_declaration
    declarator: (_) @name.declarator) @definition.field)

(function_definition
  declarator: (_) @name.declarator) @definition.function

; Namespace-level declarations only (not locals).
(translation_unit
  (declaration declarator: (_) @name.declarator) @definition.variable)
(declaration_list
  (declaration declarator: (_) @name.declarator) @definition.variable)
(template_declaration
  (declaration declarator: (_) @name.declarator) @definition.variable)
(preproc_if
  (declaration declarator: (_) @name.declarator) @definition.variable)
(preproc_ifdef
  (declaration declarator: (_) @name.declarator) @definition.variable)
(preproc_else
  (declaration declarator: (_) @name.declarator) @definition.variable)
(preproc_elif
  (declaration declarator: (_) @name.declarator) @definition.variable)

(class_specifier
  name: (type_identifier) @name
  body: (_)) @definition.class

(struct_specifier
  name: (type_identifier) @name
  body: (_)) @definition.struct

(union_specifier
  name: (type_identifier) @name
  body: (_)) @definition.union

(enum_specifier
  name: (type_identifier) @name
  body: (_)) @definition.enum

(type_definition
  declarator: (_) @name.declarator) @definition.type

(alias_declaration
  name: (type_identifier) @name) @definition.type

(namespace_definition
  name: (namespace_identifier) @name) @definition.module

(preproc_def
  name: (identifier) @name) @definition.macro

(preproc_function_def
  name: (identifier) @name) @definition.macro

(enumerator
  name: (identifier) @name) @definition.constant
