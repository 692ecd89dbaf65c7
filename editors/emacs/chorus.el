;;; chorus.el --- Eglot support for the chorus language server  -*- lexical-binding: t; -*-

;; Author: the chorus authors
;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1") (eglot "1.9"))
;; Keywords: languages, tools

;; This file is not part of GNU Emacs.

;;; Commentary:

;; Registers `chorus lsp' with Eglot for C, C++, Python, JavaScript,
;; TypeScript, Go, Rust and Java buffers (and their tree-sitter modes where
;; this Emacs has them), one server per project for all of these languages,
;; and adds commands for the repository index that chorus keeps:
;;
;;   M-x chorus-find-definitions   where a name is defined, nearest first
;;   M-x chorus-index-status       how far indexing is
;;
;; Setup:
;;
;;   (require 'chorus)
;;   (add-hook 'python-mode-hook #'eglot-ensure)   ; and so on, or M-x eglot
;;
;; Set `chorus-command' if chorus is not on `exec-path'.

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'eglot)
(require 'jsonrpc)
(require 'xref)

(defgroup chorus nil
  "The chorus language server."
  :group 'tools
  :prefix "chorus-")

(defcustom chorus-command '("chorus" "lsp")
  "Program and arguments that start the chorus language server.
Read each time a server starts."
  :type '(repeat string))

(defconst chorus-modes
  '((c-mode . "c") (c-ts-mode . "c")
    (c++-mode . "cpp") (c++-ts-mode . "cpp")
    (python-mode . "python") (python-ts-mode . "python")
    (js-mode . "javascript") (js-ts-mode . "javascript")
    (typescript-mode . "typescript") (typescript-ts-mode . "typescript")
    (tsx-ts-mode . "typescriptreact")
    (go-mode . "go") (go-ts-mode . "go")
    (rust-mode . "rust") (rust-ts-mode . "rust")
    (java-mode . "java") (java-ts-mode . "java"))
  "Major modes chorus serves, with the LSP language id of each.
Modes derived from these (`js-jsx-mode', ...) are served too.")

(defun chorus--mode-specs ()
  "The modes of `chorus-modes' for `eglot-server-programs'.
Tree-sitter modes are left out where this Emacs does not define them."
  (cl-loop for (mode . id) in chorus-modes
           when (or (not (string-suffix-p "-ts-mode" (symbol-name mode)))
                    (fboundp mode))
           collect (list mode :language-id id)))

(defclass chorus-eglot-server (eglot-lsp-server) ()
  "An Eglot connection to chorus.")

;; Eglot 1.9 keeps one languageId per server, the one of the mode that
;; started it, and would tell chorus that a C file opened later is Python.
;; There `eglot--language-id' is the slot's generic accessor: answer for the
;; buffer at hand instead.  Eglot 1.16 and later compute the id per buffer
;; and have no such generic, so nothing is changed there.
(when (if (fboundp 'cl-generic-p)
          (cl-generic-p 'eglot--language-id)
        (get 'eglot--language-id 'cl--generic))
  (cl-defmethod eglot--language-id ((_server chorus-eglot-server))
    (or (cl-loop for (mode . id) in chorus-modes
                 when (derived-mode-p mode) return id)
        (string-remove-suffix "-mode" (symbol-name major-mode)))))

;; Public since Eglot 1.16, internal before.
(defalias 'chorus--path-to-uri
  (if (fboundp 'eglot-path-to-uri) #'eglot-path-to-uri #'eglot--path-to-uri))
(defalias 'chorus--uri-to-path
  (if (fboundp 'eglot-uri-to-path) #'eglot-uri-to-path #'eglot--uri-to-path))

(defun chorus--contact (&rest _)
  "The contact for `eglot-server-programs': class and `chorus-command'."
  (cons 'chorus-eglot-server chorus-command))

(add-to-list 'eglot-server-programs
             (cons (chorus--mode-specs) #'chorus--contact))

(defun chorus--server ()
  "The Eglot server of the current buffer, or an error."
  (or (eglot-current-server)
      (user-error "No language server manages this buffer (M-x eglot)")))

(defun chorus--flush ()
  "Flush the didChange notification Eglot has pending, if any."
  (when (and (bound-and-true-p eglot--managed-mode)
             (fboundp 'eglot--signal-textDocument/didChange))
    (eglot--signal-textDocument/didChange)))

(defun chorus-definitions (name &optional prefix)
  "Where NAME is defined in the project, nearest to this buffer first.
With PREFIX non-nil, every name that starts with NAME.  Returns a list
of plists (:uri :name :kind :line :signature :proximity), :line 0-based."
  (let ((server (chorus--server)))
    (chorus--flush)
    (append
     (jsonrpc-request server :chorus/findDefinitions
                      `(:name ,name
                        :prefix ,(if prefix t :json-false)
                        ,@(when buffer-file-name
                            `(:textDocument
                              (:uri ,(chorus--path-to-uri buffer-file-name))))))
     nil)))

(defun chorus--xref (def)
  "An xref item for DEF, one result of chorus/findDefinitions."
  (let ((sig (plist-get def :signature)))
    (xref-make (format "%s: %s" (plist-get def :kind)
                       (replace-regexp-in-string
                        "[ \t]*\n[ \t]*" " "
                        (if (and sig (not (string-empty-p sig)))
                            sig
                          (plist-get def :name))))
               (xref-make-file-location
                (chorus--uri-to-path (plist-get def :uri))
                (1+ (plist-get def :line)) 0))))

(defun chorus-find-definitions (name &optional prefix)
  "Show where NAME is defined in the project, nearest first.
Jumps when there is one definition, otherwise lists them with xref.
With a prefix argument, PREFIX, list every name that starts with NAME."
  (interactive
   (let ((default (thing-at-point 'symbol t)))
     (list (read-string (if default
                            (format "Definitions of (default %s): " default)
                          "Definitions of: ")
                        nil nil default)
           current-prefix-arg)))
  (let ((xrefs (mapcar #'chorus--xref (chorus-definitions name prefix))))
    (unless xrefs
      (user-error "No definition of %s" name))
    (xref-push-marker-stack)
    (funcall xref-show-definitions-function
             (lambda () xrefs)
             `((window . ,(selected-window))
               (display-action . nil)
               (auto-jump . nil)))))

(defun chorus-index-status ()
  "Say how far chorus has indexed the project; return the status plist."
  (interactive)
  (let ((st (jsonrpc-request (chorus--server) :chorus/indexStatus
                             (make-hash-table))))
    (cond ((null (plist-get st :ready))
           (message "chorus: no workspace folder, nothing indexed"))
          ((eq (plist-get st :ready) t)
           (message "chorus: index ready, %d files" (plist-get st :files)))
          (t
           (message "chorus: indexing, %d of %d files done"
                    (or (plist-get st :filesDone) 0)
                    (or (plist-get st :filesSeen) 0))))
    st))

(provide 'chorus)
;;; chorus.el ends here
