; Definitions chorus needs beyond upstream tags.scm (which it runs too; on
; the same name range these patterns win). Conventions of chorus' extractor
; (core/src/extract.c):
;   @definition.<kind>  the definition node; kinds are those of ch_def_kind
;   @name               its name
;   @name.declarator    a C declarator whose name is found by following its
;                       `declarator` fields; a variable or field whose name
;                       sits directly in a function_declarator becomes a
;                       function or method
; Earlier patterns win over later ones on the same name.
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.

(function_definition
  declarator: (_) @name.declarator) @definition.function

; File-level declarations only (not locals): directly in the file or in a
; preprocessor conditional, as in headers with include guards.
(translation_unit
  (declaration declarator: (_) @name.declarator) @definition.variable)
(preproc_if
  (declaration declarator: (_) @name.declarator) @definition.variable)
(preproc_ifdef
  (declaration declarator: (_) @name.declarator) @definition.variable)
(preproc_else
  (declaration declarator: (_) @name.declarator) @definition.variable)
(preproc_elif
  (declaration declarator: (_) @name.declarator) @definition.variable)
(linkage_specification
  body: (declaration_list
    (declaration declarator: (_) @name.declarator) @definition.variable))

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

(preproc_def
  name: (identifier) @name) @definition.macro

(preproc_function_def
  name: (identifier) @name) @definition.macro

(field_declaration_list
  (field_declaration
    declarator: (_) @name.declarator) @definition.field)

(enumerator
  name: (identifier) @name) @definition.constant
