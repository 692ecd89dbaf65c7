; Definitions chorus needs beyond upstream tags.scm (which it runs too; on
; the same name range these patterns win). See core/src/extract.c for the
; capture conventions. Earlier patterns win over later ones on the same
; name.
;
; @definition.impl is an `impl` block named after its type: the extractor
; makes the type defined in this file the container of the block's methods
; and drops the block, or keeps the block as a module definition when the
; type is defined elsewhere.
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.

(struct_item
  name: (type_identifier) @name) @definition.struct

(enum_item
  name: (type_identifier) @name) @definition.enum

(union_item
  name: (type_identifier) @name) @definition.union

(type_item
  name: (type_identifier) @name) @definition.type

(trait_item
  name: (type_identifier) @name) @definition.interface

(impl_item
  type: [
    (type_identifier) @name
    (generic_type type: (type_identifier) @name)
    (scoped_type_identifier name: (type_identifier) @name)
    (generic_type type: (scoped_type_identifier name: (type_identifier) @name))
  ]) @definition.impl

(impl_item
  body: (declaration_list
    (function_item
      name: (identifier) @name) @definition.method))

(trait_item
  body: (declaration_list
    (function_item
      name: (identifier) @name) @definition.method))

(trait_item
  body: (declaration_list
    (function_signature_item
      name: (identifier) @name) @definition.method))

(function_item
  name: (identifier) @name) @definition.function

(function_signature_item
  name: (identifier) @name) @definition.function

(mod_item
  name: (identifier) @name) @definition.module

(macro_definition
  name: (identifier) @name) @definition.macro

; Items of a crate or module only (not of a function body).
(source_file
  (const_item
    name: (identifier) @name) @definition.constant)
(declaration_list
  (const_item
    name: (identifier) @name) @definition.constant)
(source_file
  (static_item
    name: (identifier) @name) @definition.variable)
(declaration_list
  (static_item
    name: (identifier) @name) @definition.variable)

(field_declaration_list
  (field_declaration
    name: (field_identifier) @name) @definition.field)
