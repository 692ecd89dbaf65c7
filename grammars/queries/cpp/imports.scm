; inherits: c
; C++ includes are written as in C.
