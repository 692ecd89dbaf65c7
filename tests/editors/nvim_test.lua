-- Drives Neovim (0.7+) with editors/nvim and the real chorus binary.
--
--   CHORUS_BIN=build/lsp/chorus nvim --headless --clean -u NONE \
--     -c 'luafile tests/editors/nvim_test.lua'
--
-- Prints one line per check, "ok - ..." or "not ok - ...", and exits with
-- status 1 if any check failed.

local source = debug.getinfo(1, 'S').source:sub(2)
local top = vim.fn.fnamemodify(source, ':p:h:h:h')
local bin = vim.fn.fnamemodify(os.getenv('CHORUS_BIN') or (top .. '/build/lsp/chorus'), ':p')

local failed = 0

local function out(line)
  io.stdout:write(line, '\n')
  io.stdout:flush()
end

local function check(ok, what, detail)
  if ok then
    out('ok - ' .. what)
  else
    failed = failed + 1
    out('not ok - ' .. what)
    if detail then
      for line in (tostring(detail) .. '\n'):gmatch('(.-)\n') do
        out('#   ' .. line)
      end
    end
  end
  return ok
end

local function write_file(path, text)
  vim.fn.mkdir(vim.fn.fnamemodify(path, ':h'), 'p')
  local f = assert(io.open(path, 'wb'))
  f:write(text)
  f:close()
end

local function make_repo(dir, files)
  vim.fn.mkdir(dir, 'p')
  if vim.fn.executable('git') == 1 then
    vim.fn.system({ 'git', 'init', '-q', dir })
  else
    vim.fn.mkdir(dir .. '/.git', 'p')
  end
  for name, text in pairs(files) do
    write_file(dir .. '/' .. name, text)
  end
end

-- What Neovim 0.7 sends in didOpen (and what incremental changes must
-- keep the server's copy equal to): the lines joined by the line ending of
-- 'fileformat', plus one more line ending when 'eol' is set.
local function expected_text(buf)
  local nl = ({ unix = '\n', dos = '\r\n', mac = '\r' })[vim.bo[buf].fileformat]
  local text = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, true), nl)
  if vim.bo[buf].eol then
    text = text .. nl
  end
  return text
end

local function request(buf, method, params, timeout)
  if #vim.lsp.buf_get_clients(buf) == 0 then
    return nil, 'no client attached to buffer ' .. buf .. ' (did the server exit?)'
  end
  -- pcall: on 0.7, buf_request_sync raises when its client died meanwhile.
  local ok, results, err = pcall(vim.lsp.buf_request_sync, buf, method, params, timeout or 5000)
  if not ok then
    return nil, results
  end
  if not results then
    return nil, err
  end
  for _, r in pairs(results) do
    if r.err then
      return nil, vim.inspect(r.err)
    end
    return r.result
  end
  return nil, 'no client answered ' .. method
end

local show = vim.inspect

-- Compares the server's copy of buf with the buffer, text and version.
local function check_sync(buf, what)
  local doc, err = request(buf, 'chorus/documentText',
    { textDocument = { uri = vim.uri_from_bufnr(buf) } })
  if not doc then
    return check(false, what, err)
  end
  local want = expected_text(buf)
  local ok = doc.text == want and doc.version == vim.lsp.util.buf_versions[buf]
  return check(ok, what, string.format('server (v%s): %s\nbuffer (v%s): %s',
    tostring(doc.version), show(doc.text), tostring(vim.lsp.util.buf_versions[buf]), show(want)))
end

local function chorus_clients()
  local list = {}
  for _, c in pairs(vim.lsp.get_active_clients()) do
    if c.name == 'chorus' then
      table.insert(list, c)
    end
  end
  return list
end

local function attached_client(buf)
  for _, c in pairs(vim.lsp.buf_get_clients(buf)) do
    if c.name == 'chorus' then
      return c
    end
  end
end

local function wait_attached(buf)
  local client
  vim.wait(15000, function()
    client = attached_client(buf)
    return client ~= nil and client.initialized == true
  end, 20)
  return client
end

-- Calls fn every 50 ms until it returns true or timeout_ms have passed.
-- Unlike vim.wait(timeout, fn), fn may itself wait (buf_request_sync does).
local function poll(timeout_ms, fn)
  local deadline = vim.loop.hrtime() + timeout_ms * 1e6
  while not fn() do
    if vim.loop.hrtime() > deadline then
      return false
    end
    vim.wait(50, function() return false end)
  end
  return true
end

local function find(buf, name, prefix)
  return request(buf, 'chorus/findDefinitions', {
    name = name,
    prefix = prefix or false,
    textDocument = { uri = vim.uri_from_bufnr(buf) },
  })
end

-- Polls findDefinitions until pred(result) holds (the index reparses
-- open documents after a short debounce, on worker threads).
local function find_until(buf, name, pred)
  local result
  poll(10000, function()
    result = find(buf, name)
    return result ~= nil and pred(result)
  end)
  return result
end

local function ends_with(s, suffix)
  return type(s) == 'string' and s:sub(-#suffix) == suffix
end

local function run(tmp)
  local repo = tmp .. '/repo'
  make_repo(repo, {
    ['main.py'] = 'from util import helper\n\n\ndef main():\n    return helper(1)\n',
    ['util.py'] = 'def helper(x):\n    return x + 1\n\n\nclass Widget:\n    pass\n',
    ['lib.c'] = '#include "lib.h"\n\nint add_numbers(int a, int b) { return a + b; }\n',
    ['lib.h'] = 'int add_numbers(int a, int b);\n',
    ['dos.c'] = '#include "lib.h"\r\n\r\nint twice(int a) {\r\n  return add_numbers(a, a);\r\n}\r\n',
    ['noeol.py'] = 'def last():\n    return 1',
    ['scratch.py'] = 'import os\n\nx = 1\n',
  })
  local repo2 = tmp .. '/other'
  make_repo(repo2, { ['x.py'] = 'def other_thing():\n    pass\n' })
  write_file(tmp .. '/loose/y.py', 'def loose():\n    pass\n')

  vim.cmd('filetype on')
  vim.opt.runtimepath:append(top .. '/editors/nvim')
  local exits = {}
  require('chorus').setup({
    cmd = { bin, 'lsp' },
    on_exit = function(code, signal, client_id)
      exits[client_id] = { code = code, signal = signal }
    end,
  })

  -- Attach.
  local t0 = vim.loop.hrtime()
  vim.cmd('edit ' .. vim.fn.fnameescape(repo .. '/main.py'))
  local buf = vim.api.nvim_get_current_buf()
  local client = wait_attached(buf)
  if not check(client ~= nil, 'the client attaches to a python buffer') then
    return
  end
  out(string.format('# attached in %d ms', (vim.loop.hrtime() - t0) / 1e6))
  check(client.config.root_dir == repo, 'the root is the repository (.git)',
    show(client.config.root_dir))
  check(client.offset_encoding == 'utf-16', 'positions are utf-16 (0.7 offers nothing else)',
    show(client.offset_encoding))
  check_sync(buf, 'didOpen: the server has the buffer text')

  -- Edits through the API, with multi-byte and astral characters.
  local api = vim.api
  api.nvim_buf_set_text(buf, 0, 0, 0, 0, { '# café €uro 😀 ' })
  check_sync(buf, 'nvim_buf_set_text: insert with é, € and an astral character')
  api.nvim_buf_set_text(buf, 0, #'# café €uro ', 0, #'# café €uro 😀', { '🎉x', 'ß' })
  check_sync(buf, 'nvim_buf_set_text: replace an astral character by two lines')
  api.nvim_buf_set_text(buf, 0, 2, 1, #'ß', { 'ñ' })
  check_sync(buf, 'nvim_buf_set_text: replace across a line break')
  api.nvim_buf_set_lines(buf, 1, 1, true, { 'x = "𝄞𝄞"', '' })
  check_sync(buf, 'nvim_buf_set_lines: insert whole lines')

  -- Normal-mode commands.
  vim.cmd('normal! Go# tail 🎉 ünï')
  check_sync(buf, 'normal G o: a new last line')
  vim.cmd('normal! 2G0f𝄞x')
  check_sync(buf, 'normal x: delete an astral character')
  vim.cmd('normal! ggJ')
  check_sync(buf, 'normal J: join two lines')
  vim.cmd('normal! 3Gdd')
  check_sync(buf, 'normal dd')
  vim.cmd('%s/ü/UE/ge')
  check_sync(buf, ':substitute')
  vim.cmd('normal! u')
  vim.cmd('normal! u')
  check_sync(buf, 'undo twice')
  vim.cmd('redo')
  check_sync(buf, 'redo')

  -- Changes sent by the debounce timer rather than flushed by a request.
  api.nvim_buf_set_lines(buf, -1, -1, true, { '', 'def brand_new_func(a):', '    return a  # ☃' })
  vim.cmd('normal! GA 😀')
  vim.wait(400, function() return false end)
  check_sync(buf, 'changes sent after the 150 ms debounce')

  -- CRLF file: Neovim 0.7 sends "\r\n" for fileformat=dos.
  vim.cmd('edit ' .. vim.fn.fnameescape(repo .. '/dos.c'))
  local dos = api.nvim_get_current_buf()
  wait_attached(dos)
  check(vim.bo[dos].fileformat == 'dos', 'dos.c is read as fileformat=dos')
  check_sync(dos, 'didOpen of a CRLF file')
  api.nvim_buf_set_text(dos, 2, 4, 2, 9, { 'thrice_é', '' })
  vim.cmd('normal! 2Go  /* 😀 */')
  vim.cmd('normal! 3GJ')
  check_sync(dos, 'edits in a CRLF file')

  -- File without a final newline ('eol' off).
  vim.cmd('edit ' .. vim.fn.fnameescape(repo .. '/noeol.py'))
  local noeol = api.nvim_get_current_buf()
  wait_attached(noeol)
  check(not vim.bo[noeol].eol, 'noeol.py is read with eol off')
  check_sync(noeol, 'didOpen of a file without a final newline')
  vim.cmd('normal! GA + 1 # ñ')
  check_sync(noeol, 'edit the last line of a file without a final newline')

  -- One client per root.
  check(attached_client(dos) == client and attached_client(noeol) == client,
    'buffers under the same root share one client')
  vim.cmd('edit ' .. vim.fn.fnameescape(repo2 .. '/x.py'))
  local other = wait_attached(api.nvim_get_current_buf())
  check(other ~= nil and other.id ~= client.id and other.config.root_dir == repo2,
    'a file of another repository gets its own client', other and show(other.config.root_dir))
  vim.cmd('edit ' .. vim.fn.fnameescape(tmp .. '/loose/y.py'))
  local loose = wait_attached(api.nvim_get_current_buf())
  check(loose ~= nil and loose.config.root_dir == nil and loose.id ~= client.id,
    'a file under no root marker gets a client without a root')
  check(#chorus_clients() == 3, 'three clients for three roots', #chorus_clients())
  local pids = {} -- client id -> server pid, for the shutdown checks
  for _, c in ipairs(chorus_clients()) do
    pids[c.id] = c.rpc.pid
  end

  -- The repository index.
  vim.cmd('buffer ' .. buf)
  local status
  t0 = vim.loop.hrtime()
  poll(20000, function()
    status = request(buf, 'chorus/indexStatus', vim.empty_dict())
    return status ~= nil and status.ready == true
  end)
  check(status and status.ready and status.files >= 6, 'chorus/indexStatus: ready', show(status))
  out(string.format('# index ready after %d ms', (vim.loop.hrtime() - t0) / 1e6))

  local defs = find_until(buf, 'helper', function(r) return #r > 0 end)
  check(defs and #defs == 1 and ends_with(defs[1].uri, '/repo/util.py')
    and defs[1].line == 0 and defs[1].kind == 'function',
    'chorus/findDefinitions: a function of another python file', show(defs))
  defs = find_until(buf, 'add_numbers', function(r) return #r > 0 end)
  check(defs and #defs >= 1 and (ends_with(defs[1].uri, '/repo/lib.c') or ends_with(defs[1].uri, '/repo/lib.h')),
    'chorus/findDefinitions: a C function', show(defs))
  defs = find_until(buf, 'brand_new_func', function(r) return #r > 0 end)
  check(defs and #defs == 1 and ends_with(defs[1].uri, '/repo/main.py'),
    'chorus/findDefinitions: a function typed into the unsaved buffer', show(defs))
  defs = find_until(buf, 'thrice_é', function(r) return #r > 0 end)
  check(defs and #defs == 1 and ends_with(defs[1].uri, '/repo/dos.c') and defs[1].line == 2,
    'chorus/findDefinitions: a function renamed in the unsaved CRLF buffer', show(defs))

  -- :ChorusFind fills the quickfix list.
  vim.fn.setqflist({}, 'r')
  vim.cmd('ChorusFind helper')
  local qf
  vim.wait(5000, function()
    qf = vim.fn.getqflist({ items = 0, title = 0 })
    return #qf.items > 0
  end, 20)
  local item = qf.items[1]
  check(#qf.items == 1 and item and vim.api.nvim_buf_get_name(item.bufnr) == repo .. '/util.py'
    and item.lnum == 1 and qf.title == 'chorus: helper',
    ':ChorusFind helper fills the quickfix list', show(qf))
  check(vim.bo.buftype == 'quickfix', ':ChorusFind opens the quickfix window')
  vim.cmd('cclose')
  vim.cmd('buffer ' .. buf)
  vim.fn.setqflist({}, 'r')
  vim.cmd('ChorusFind! Wid')
  vim.wait(5000, function() return #vim.fn.getqflist() > 0 end, 20)
  qf = vim.fn.getqflist()
  check(#qf == 1 and qf[1].text:match('^class'), ':ChorusFind! Wid finds Widget by prefix', show(qf))
  vim.cmd('cclose')
  vim.cmd('buffer ' .. buf)
  vim.cmd('ChorusFind no_such_name_anywhere')
  vim.wait(5000, function() return vim.fn.execute('messages'):find('no definition') ~= nil end, 20)
  check(vim.fn.execute('messages'):find('chorus: no definition of no_such_name_anywhere', 1, true),
    ':ChorusFind without a result says so')
  vim.cmd('ChorusStatus')
  vim.wait(5000, function() return vim.fn.execute('messages'):find('index ready') ~= nil end, 20)
  check(vim.fn.execute('messages'):find('chorus: index ready, %d+ files'),
    ':ChorusStatus echoes the index state', vim.fn.execute('messages'))

  -- Deleting every line: Neovim sends the range (0,0)-(N,0) with no text,
  -- so the server's copy ends up "" while the buffer is one empty line
  -- with 'eol' ("\n" in didOpen): the final newline is lost until the
  -- buffer is reloaded (neovim/neovim#27383). Done in a buffer of its own.
  vim.cmd('edit ' .. vim.fn.fnameescape(repo .. '/scratch.py'))
  local scratch = api.nvim_get_current_buf()
  wait_attached(scratch)
  check_sync(scratch, 'didOpen of scratch.py')
  vim.cmd('normal! ggdG')
  local doc = request(scratch, 'chorus/documentText', { textDocument = { uri = vim.uri_from_bufnr(scratch) } })
  check(doc and (doc.text == '' or doc.text == '\n'),
    'normal ggdG: the server has what Neovim sent', doc and show(doc.text))
  if doc and doc.text == '' then
    out('# note: Neovim ' .. tostring(vim.version().major) .. '.' .. tostring(vim.version().minor)
      .. ' dropped the final newline when every line was deleted')
  end
  vim.cmd('normal! u')
  -- :write and :edit! right after an edit: didSave, didClose and didOpen
  -- arrive while the server still holds the edit for the index (25 ms).
  vim.cmd('write')
  vim.cmd('edit!')
  check_sync(scratch, ':edit! after ggdG and undo: didClose + didOpen resynchronise')
  vim.cmd('normal! Gox = 2')
  vim.cmd('bwipeout!')
  vim.wait(200, function() return false end)
  check_sync(buf, 'the server still answers after a buffer was wiped out right after an edit')

  -- Shutdown: every server process exits, with status 0 (a server that
  -- crashed earlier shows up here with its signal; the plugin may have
  -- started a new client for its root since).
  for _, c in ipairs(chorus_clients()) do
    pids[c.id] = c.rpc.pid
  end
  t0 = vim.loop.hrtime()
  vim.lsp.stop_client(vim.tbl_keys(pids))
  vim.wait(10000, function()
    for id in pairs(pids) do
      if not exits[id] then
        return false
      end
    end
    return #chorus_clients() == 0
  end, 20)
  out(string.format('# clients stopped in %d ms', (vim.loop.hrtime() - t0) / 1e6))
  check(#chorus_clients() == 0, 'stop_client stops every client')
  for id, pid in pairs(pids) do
    local e = exits[id]
    check(e and e.code == 0 and e.signal == 0, 'server ' .. id .. ' exits with status 0', show(e))
    check(vim.loop.kill(pid, 0) == nil, 'server ' .. id .. ': its process is gone')
  end
end

local tmp = vim.fn.tempname()
-- The index cache of this run stays in the run's own folder.
vim.env.XDG_CACHE_HOME = tmp .. '/cache'
local started = vim.loop.hrtime()
local ok, err = xpcall(run, debug.traceback, tmp)
check(ok, 'the test script ran to the end', err)
ok, err = pcall(function()
  for _, c in ipairs(chorus_clients()) do
    c.stop(true)
  end
  -- The servers' stderr (sanitizer reports, crashes) is in Neovim's LSP log.
  local log = tmp .. '/cache/nvim/lsp.log'
  if failed > 0 and vim.fn.filereadable(log) == 1 then
    local lines = vim.fn.readfile(log)
    for i = math.max(1, #lines - 60), #lines do
      out('# lsp.log: ' .. lines[i])
    end
  end
  vim.fn.delete(tmp, 'rf')
end)
check(ok, 'the test cleans up after itself', err)
out(string.format('# nvim test: %d ms', (vim.loop.hrtime() - started) / 1e6))
if failed > 0 then
  vim.cmd('cquit 1')
else
  vim.cmd('qall!')
end
