;;; emacs-test.el --- Drive Emacs + Eglot + editors/emacs/chorus.el with the real server  -*- lexical-binding: t; -*-

;; CHORUS_BIN=build/lsp/chorus emacs -Q --batch -l tests/editors/emacs-test.el
;;
;; ERT tests; each makes a small repository, opens a file of it with Eglot
;; connected to chorus (through chorus.el's registration), and shuts the
;; server down afterwards.  Exits with status 0 only when every test passed.

;;; Code:

;; Debian's elpa-* packages are not on the load path under -Q; Eglot 1.9
;; also needs the newer project and xref from there.
(let ((elpa "/usr/share/emacs/site-lisp/elpa"))
  (when (file-directory-p elpa)
    (dolist (dir (directory-files elpa t "\\`[^.]"))
      (when (file-directory-p dir)
        (add-to-list 'load-path dir)))))

(require 'ert)
(require 'cl-lib)
(require 'subr-x)
(require 'eglot)

(defconst chorus-test-top
  (expand-file-name "../.." (file-name-directory (or load-file-name buffer-file-name)))
  "The top of the chorus source tree.")

(load (expand-file-name "editors/emacs/chorus.el" chorus-test-top) nil t)

(defconst chorus-test-bin
  (let ((env (getenv "CHORUS_BIN")))
    (if (and env (not (string-empty-p env)))
        (expand-file-name env)
      (expand-file-name "build/lsp/chorus" chorus-test-top)))
  "The server under test.")

(defconst chorus-test-files
  '(("main.py" . "from util import helper\n\n\ndef main():\n    return helper(1)\n")
    ("util.py" . "def helper(x):\n    return x + 1\n\n\nclass Widget:\n    pass\n\n\ndef shared():\n    return 1\n")
    ("other.py" . "def shared():\n    return 2\n")
    ("lib.c" . "#include \"lib.h\"\n\nint add_numbers(int a, int b) { return a + b; }\n")
    ("lib.h" . "int add_numbers(int a, int b);\n")
    ("dos.py" . "def crlf():\r\n    return 'é'\r\n"))
  "The test repository.")

(defvar chorus-test-repo nil "The repository of the running test.")

(defun chorus-test--make-repo (dir)
  "Write `chorus-test-files' into DIR, a git repository."
  (make-directory dir t)
  (unless (eq 0 (ignore-errors (call-process "git" nil nil nil "init" "-q" dir)))
    (make-directory (expand-file-name ".git" dir) t))
  (dolist (f chorus-test-files)
    (let ((coding-system-for-write 'no-conversion))
      (write-region (encode-coding-string (cdr f) 'utf-8) nil
                    (expand-file-name (car f) dir) nil 'silent))))

(defun chorus-test--connect ()
  "Start Eglot for the current buffer the way `eglot-ensure' does."
  (eglot-ensure)
  (run-hooks 'post-command-hook)        ; eglot-ensure connects from there
  (let ((server (eglot-current-server)))
    (should server)
    (should (jsonrpc-running-p server))
    server))

(defun chorus-test--open (file)
  "Visit FILE of the test repository, connected; return the buffer."
  (let ((buf (find-file-noselect (expand-file-name file chorus-test-repo))))
    (with-current-buffer buf
      (unless (bound-and-true-p eglot--managed-mode)
        (chorus-test--connect)))
    buf))

(defun chorus-test--check-stderr (server)
  "Fail if SERVER's stderr holds a sanitizer report."
  (let ((buf (ignore-errors (jsonrpc-stderr-buffer server))))
    (when (buffer-live-p buf)
      (should-not (with-current-buffer buf
                    (string-match-p "Sanitizer\\|runtime error:" (buffer-string)))))))

(defun chorus-test--call-with-repo (file fn)
  "Make a repository, open FILE in it connected to chorus, call FN there."
  (let* ((dir (file-name-as-directory (make-temp-file "chorus-emacs-" t)))
         (chorus-test-repo (concat dir "repo/"))
         ;; The index cache of this test stays in its own folder.
         (process-environment (cons (concat "XDG_CACHE_HOME=" dir "cache")
                                    process-environment))
         (chorus-command (list chorus-test-bin "lsp"))
         (eglot-sync-connect t)
         (eglot-connect-timeout 20)
         (eglot-confirm-server-initiated-edits nil)
         (eglot-autoshutdown nil)
         (eglot-events-buffer-size 0)
         (inhibit-message t))
    (unwind-protect
        (progn
          (chorus-test--make-repo chorus-test-repo)
          (with-current-buffer (chorus-test--open file)
            (let ((server (eglot-current-server)))
              (funcall fn)
              (chorus-test--check-stderr server))))
      (let (servers)
        (maphash (lambda (_ ss) (setq servers (append ss servers)))
                 eglot--servers-by-project)
        (dolist (server servers)
          (ignore-errors (eglot-shutdown server))))
      (dolist (buf (buffer-list))
        (with-current-buffer buf
          (when (and buffer-file-name (string-prefix-p dir buffer-file-name))
            (set-buffer-modified-p nil)
            ;; Without Eglot's didClose, which fails if the server died.
            (let ((kill-buffer-hook nil))
              (kill-buffer buf)))))
      (delete-directory dir t))))

(defmacro chorus-test-with-repo (file &rest body)
  "Run BODY in FILE of a fresh test repository, connected to chorus."
  (declare (indent 1))
  `(chorus-test--call-with-repo ,file (lambda () ,@body)))

(defun chorus-test--document ()
  "The server's copy of the current buffer (chorus/documentText)."
  (chorus--flush)
  (jsonrpc-request (eglot-current-server) :chorus/documentText
                   `(:textDocument (:uri ,(chorus--path-to-uri buffer-file-name)))))

(defun chorus-test--check-sync ()
  "Check that the server has the buffer's text and version."
  (let ((doc (chorus-test--document)))
    (should (equal (plist-get doc :text)
                   (save-restriction
                     (widen)
                     (buffer-substring-no-properties (point-min) (point-max)))))
    (should (equal (plist-get doc :version) eglot--versioned-identifier))))

(defmacro chorus-test-sync (&rest edits)
  "Do EDITS, then check that the server's copy equals the buffer."
  `(progn
     (undo-boundary)
     ,@edits
     (chorus-test--check-sync)))

(defun chorus-test--wait (seconds)
  "Handle process output for up to SECONDS.
Under `debug-on-error' (ERT sets it) an error in a process filter, such
as replying to a server that died meanwhile, reaches the caller: it is
printed here, and the checks that follow say what went wrong."
  (condition-case err
      (accept-process-output nil seconds)
    (error (princ (format "# process filter: %s\n" (error-message-string err))
                  #'external-debugging-output))))

(defun chorus-test--poll (seconds fn)
  "Call FN until it returns non-nil or SECONDS passed; return its value."
  (let ((deadline (+ (float-time) seconds))
        value)
    (while (and (not (setq value (funcall fn)))
                (< (float-time) deadline))
      (chorus-test--wait 0.05))
    value))

(defun chorus-test--wait-index ()
  "Wait until the index is ready; return the last status."
  (chorus-test--poll
   20 (lambda ()
        (let ((st (jsonrpc-request (eglot-current-server) :chorus/indexStatus
                                   (make-hash-table))))
          (and (eq (plist-get st :ready) t) st)))))

(defun chorus-test--find (name &optional prefix)
  "Definitions of NAME, polled until there is one (the index is debounced)."
  (chorus-test--poll 10 (lambda () (chorus-definitions name prefix))))

;;; Registration

(ert-deftest chorus-registers-the-supported-modes ()
  (require 'js)                         ; defines js-jsx-mode
  (dolist (mode '(c-mode c++-mode python-mode js-mode typescript-mode go-mode
                  rust-mode java-mode))
    (let ((found (eglot--lookup-mode mode)))
      (should (eq (nth 2 found) #'chorus--contact))
      (should (equal (nth 1 found) (alist-get mode chorus-modes)))))
  ;; A derived mode is served as its parent.
  (should (equal (cdr (eglot--lookup-mode 'js-jsx-mode))
                 '("javascript" chorus--contact)))
  (let ((chorus-command '("/x/chorus" "lsp")))
    (should (equal (chorus--contact) '(chorus-eglot-server "/x/chorus" "lsp")))))

;;; Document synchronisation

(ert-deftest chorus-connects-and-opens ()
  (chorus-test-with-repo "main.py"
    (should (cl-typep (eglot-current-server) 'chorus-eglot-server))
    (chorus-test--check-sync)
    (should (equal (plist-get (chorus-test--document) :languageId) "python"))))

(ert-deftest chorus-sync-inserts-and-deletes ()
  (chorus-test-with-repo "main.py"
    (chorus-test-sync (goto-char (point-max)) (insert "# café €uro 😀 ok\n"))
    (chorus-test-sync (goto-char (point-min)) (insert "x = 'ñ'\n\n"))
    (chorus-test-sync (search-forward "😀") (delete-char -1))
    (chorus-test-sync (search-backward "café") (insert "🎉🎉"))
    (chorus-test-sync (goto-char (point-min)) (forward-line 1) (kill-line 2))
    (chorus-test-sync (goto-char (point-min)) (search-forward "return")
                      (delete-region (- (point) 12) (+ (point) 3)))
    (chorus-test-sync (goto-char (point-max))
                      (insert "def added():\n    return \"𝄞\"\n"))
    (chorus-test-sync (delete-region (point-min) (point-max)))
    (chorus-test-sync (insert "a\nb\n"))))

(ert-deftest chorus-sync-commands-and-undo ()
  (chorus-test-with-repo "main.py"
    ;; No "ß" here: Eglot 1.9 sends one character too few when a case
    ;; change makes the text longer ("ß" -> "SS"), see the README.
    (chorus-test-sync (goto-char (point-min)) (insert "über 😀 strasse\n"))
    (chorus-test-sync (goto-char (point-min)) (capitalize-word 1))
    (chorus-test-sync (goto-char (point-min))
                      (upcase-region (point-min) (line-end-position)))
    (chorus-test-sync (goto-char (point-min)) (forward-line 1) (transpose-lines 1))
    (chorus-test-sync (goto-char (point-min)) (search-forward "def")
                      (replace-match "async def" t t))
    (chorus-test-sync (let ((last-command nil)) (undo)))
    (chorus-test-sync (let ((last-command nil)) (undo 2)))
    (chorus-test-sync (goto-char (point-min))
                      (while (search-forward "helper" nil t)
                        (replace-match "helper_é" t t)))
    (chorus-test-sync (goto-char (point-min)) (join-line 1))))

(ert-deftest chorus-sync-from-the-idle-timer ()
  ;; Eglot sends changes from an idle timer; batch Emacs is never idle, so
  ;; this runs what the timer would (and nothing flushes before the check).
  (chorus-test-with-repo "main.py"
    (goto-char (point-max))
    (insert "z = '😀'\n")
    (should eglot--recent-changes)
    (should (timerp eglot--change-idle-timer))
    (timer-event-handler eglot--change-idle-timer)
    (should-not eglot--recent-changes)
    (let ((doc (jsonrpc-request (eglot-current-server) :chorus/documentText
                                `(:textDocument (:uri ,(chorus--path-to-uri buffer-file-name))))))
      (should (equal (plist-get doc :text) (buffer-string))))))

(ert-deftest chorus-sync-crlf-file ()
  ;; Emacs decodes the \r\n away: Eglot sends and edits the buffer's \n text.
  (chorus-test-with-repo "dos.py"
    (should (eq (coding-system-eol-type buffer-file-coding-system) 1))
    (chorus-test--check-sync)
    (should-not (string-match-p "\r" (plist-get (chorus-test--document) :text)))
    (chorus-test-sync (goto-char (point-max)) (insert "x = '😀'\n"))))

(ert-deftest chorus-one-server-per-project-with-language-ids ()
  (chorus-test-with-repo "main.py"
    (let ((server (eglot-current-server)))
      (with-current-buffer (chorus-test--open "lib.c")
        (should (eq (eglot-current-server) server))
        ;; Eglot 1.9 alone would say "python" here.
        (should (equal (plist-get (chorus-test--document) :languageId) "c"))
        (chorus-test-sync (goto-char (point-max)) (insert "int sub_é(void);\n")))
      (should (equal (plist-get (chorus-test--document) :languageId) "python")))))

(ert-deftest chorus-survives-closing-a-buffer-right-after-an-edit ()
  ;; didClose arrives while the server still holds the edit for the index.
  (chorus-test-with-repo "main.py"
    (let ((server (eglot-current-server)))
      (with-current-buffer (chorus-test--open "util.py")
        (goto-char (point-max))
        (insert "def closing():\n    pass\n")
        (chorus--flush)
        (set-buffer-modified-p nil)
        (kill-buffer))
      (chorus-test--wait 0.2)
      ;; A crashed server fails this as (eq signal run).
      (should (eq (process-status (jsonrpc--process server)) 'run))
      (chorus-test--check-sync))))

;;; The repository index

(ert-deftest chorus-find-definitions-across-files ()
  (chorus-test-with-repo "main.py"
    (let ((st (chorus-test--wait-index)))
      (should st)
      (should (>= (plist-get st :files) 5)))
    (let ((defs (chorus-test--find "helper")))
      (should (= (length defs) 1))
      (should (string-suffix-p "/repo/util.py" (plist-get (car defs) :uri)))
      (should (equal (plist-get (car defs) :kind) "function"))
      (should (= (plist-get (car defs) :line) 0)))
    (let ((defs (chorus-test--find "add_numbers")))
      (should defs)
      (should (string-match-p "/repo/lib\\.[ch]\\'" (plist-get (car defs) :uri))))
    (let ((defs (chorus-test--find "Wid" t)))
      (should (equal (mapcar (lambda (d) (plist-get d :name)) defs) '("Widget"))))
    ;; A definition that exists only in the unsaved buffer.
    (goto-char (point-max))
    (insert "\ndef only_in_buffer_é():\n    pass\n")
    (let ((defs (chorus-test--find "only_in_buffer_é")))
      (should (= (length defs) 1))
      (should (string-suffix-p "/repo/main.py" (plist-get (car defs) :uri)))
      (should (= (plist-get (car defs) :line) 6)))
    (should-not (chorus-definitions "no_such_name_anywhere"))))

(ert-deftest chorus-find-definitions-command ()
  (chorus-test-with-repo "main.py"
    (chorus-test--wait-index)
    (chorus-test--find "helper")
    ;; One definition: the command jumps to it.
    (chorus-find-definitions "helper")
    (should (equal buffer-file-name (expand-file-name "util.py" chorus-test-repo)))
    (should (= (line-number-at-pos) 1))
    (should (looking-at-p "def helper"))
    ;; Two: listed in an xref buffer.
    (chorus-test--find "shared")
    (chorus-find-definitions "shared")
    (let ((xref (get-buffer "*xref*")))
      (should xref)
      (with-current-buffer xref
        (should (string-match-p "util\\.py" (buffer-string)))
        (should (string-match-p "other\\.py" (buffer-string)))
        (should (string-match-p "function: def shared()" (buffer-string)))))
    (should-error (chorus-find-definitions "no_such_name_anywhere") :type 'user-error)))

(ert-deftest chorus-index-status-command ()
  (chorus-test-with-repo "main.py"
    (chorus-test--wait-index)
    (let ((st (chorus-index-status)))
      (should (eq (plist-get st :ready) t))
      (should (>= (plist-get st :files) 5)))
    (with-current-buffer "*Messages*"
      (goto-char (point-max))
      (forward-line -1)
      (should (looking-at-p "chorus: index ready, [0-9]+ files$")))))

;;; Shutdown

(ert-deftest chorus-eglot-shutdown-ends-the-process ()
  ;; Eglot 1.9 (jsonrpc 1.0.14) sends shutdown and exit, then deletes the
  ;; process at once unless its sentinel already ran: the server is
  ;; usually killed (signal 9) before it can exit by itself.
  (chorus-test-with-repo "main.py"
    (let* ((server (eglot-current-server))
           (proc (jsonrpc--process server)))
      (chorus-test--check-stderr server)
      (eglot-shutdown server)
      (should-not (process-live-p proc))
      (should-not (jsonrpc-running-p server))
      (should-not (eglot-current-server)))))

(ert-deftest chorus-server-exits-with-status-0 ()
  ;; Hence the clean exit is checked by hand here.
  (chorus-test-with-repo "main.py"
    (let* ((server (eglot-current-server))
           (proc (jsonrpc--process server)))
      (chorus-test--wait-index)
      (should (null (jsonrpc-request server :shutdown nil)))
      (jsonrpc-notify server :exit nil)
      (should (chorus-test--poll 10 (lambda () (not (process-live-p proc)))))
      (should (eq (process-status proc) 'exit))
      (should (= (process-exit-status proc) 0))
      ;; Eglot notices from the process sentinel.
      (should (chorus-test--poll 5 (lambda () (null (eglot-current-server))))))))

(ert-run-tests-batch-and-exit t)

;;; emacs-test.el ends here
