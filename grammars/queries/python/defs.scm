; Definitions chorus needs beyond upstream tags.scm (which it runs too; on
; the same name range these patterns win). See core/src/extract.c for the
; capture conventions. Earlier patterns win over later ones on the same
; name. Module-level variables whose name is all capitals become constants.
; The extractor matches these patterns itself while it walks the tree (the
; matcher in core/src/extract.c): node types, (_) and _, "anonymous" nodes,
; fields, !field, [alternations], captures, the anchor `.` and `?`. Above
; its captured nodes a pattern may look only at the types and fields of
; their ancestors, which is what lets an edit re-extract only what changed.

(class_definition
  body: (block
    (function_definition
      name: (identifier) @name) @definition.method))

(class_definition
  body: (block
    (decorated_definition
      definition: (function_definition
        name: (identifier) @name) @definition.method)))

(function_definition
  name: (identifier) @name) @definition.function

(class_definition
  name: (identifier) @name) @definition.class

(module
  (expression_statement
    (assignment
      left: (identifier) @name) @definition.variable))

(module
  (expression_statement
    (assignment
      left: (pattern_list (identifier) @name)) @definition.variable))

(module
  (type_alias_statement
    left: (type (identifier) @name)) @definition.type)

(class_definition
  body: (block
    (expression_statement
      (assignment
        left: (identifier) @name) @definition.field)))
