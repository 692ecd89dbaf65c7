-- chorus: Neovim (0.7 and later) client for the chorus language server.
--
--   require('chorus').setup({ cmd = { 'chorus', 'lsp' } })
--
-- One client per project root. Every buffer of a supported filetype under
-- the same root shares that client; a file under no root marker gets a
-- client without workspace folders, so nothing is indexed for it.
--
-- Written against the 0.7 API: vim.lsp.start() and vim.fs do not exist
-- there, so roots are found by hand and clients are started with
-- vim.lsp.start_client() and attached with vim.lsp.buf_attach_client().
local M = {}

M.defaults = {
  cmd = { 'chorus', 'lsp' },
  filetypes = {
    'c', 'cpp', 'python', 'javascript', 'javascriptreact', 'typescript',
    'typescriptreact', 'go', 'rust', 'java',
  },
  -- Tried in order: the first marker found in the file's directory or one
  -- of its parents decides the root, so a repository with a package.json
  -- in a subfolder still gets one client for the whole repository.
  root_markers = {
    '.git', '.hg', '.svn', 'compile_commands.json', 'pyproject.toml',
    'setup.py', 'package.json', 'go.mod', 'Cargo.toml', 'pom.xml',
    'build.gradle',
  },
}

local NO_ROOT = '' -- key of the client for files under no root marker

local config = nil -- the merged options of the last setup()
local client_ids = {} -- root (or NO_ROOT) -> client id

local function find_root(dir, markers)
  for _, marker in ipairs(markers) do
    local d = dir
    while true do
      if vim.loop.fs_stat(d .. '/' .. marker) then
        return d
      end
      local parent = vim.fn.fnamemodify(d, ':h')
      if parent == d then
        break
      end
      d = parent
    end
  end
  return nil
end

-- The live client for root, or nil.
local function client_for(key)
  local id = client_ids[key]
  local client = id and vim.lsp.get_client_by_id(id)
  if client and not client.is_stopped() then
    return client
  end
  client_ids[key] = nil
  return nil
end

local function start_client(root)
  local key = root or NO_ROOT
  -- Anything setup() was given beyond our own options (on_attach,
  -- init_options, capabilities, flags, handlers, ...) goes to the client.
  local opts = vim.tbl_extend('force', config.client_options, {
    name = 'chorus',
    cmd = config.cmd,
    root_dir = root,
  })
  local user_on_exit = config.client_options.on_exit
  opts.on_exit = function(code, signal, client_id)
    if client_ids[key] == client_id then
      client_ids[key] = nil
    end
    if user_on_exit then
      user_on_exit(code, signal, client_id)
    end
  end
  local id = vim.lsp.start_client(opts)
  if id then
    client_ids[key] = id
  end
  return id
end

--- Attaches bufnr to the client of its root, starting that client first if
--- needed. Returns the client id, or nil for buffers that are not files.
function M.attach(bufnr)
  if not config then
    error('chorus: call setup() first')
  end
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' or vim.api.nvim_buf_get_option(bufnr, 'buftype') ~= '' then
    return nil
  end
  local root = find_root(vim.fn.fnamemodify(name, ':p:h'), config.root_markers)
  local client = client_for(root or NO_ROOT)
  local id = client and client.id or start_client(root)
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

-- The chorus client of the current buffer, else the first one running.
local function current_client()
  local first
  for _, client in pairs(vim.lsp.get_active_clients()) do
    if client.name == 'chorus' then
      if client.attached_buffers[vim.api.nvim_get_current_buf()] then
        return client
      end
      first = first or client
    end
  end
  return first
end

local function echo(msg, hl)
  vim.api.nvim_echo({ { msg, hl } }, true, {})
end

-- Sends method to the current chorus client; callback(err, result).
local function request(method, params, callback)
  local client = current_client()
  if not client then
    callback({ message = 'no chorus client is running' })
    return
  end
  client.request(method, params, function(err, result)
    callback(err, result)
  end, vim.api.nvim_get_current_buf())
end

--- Asks the current chorus client where name is defined, nearest to the
--- current buffer first; callback(err, definitions). With opts.prefix, every
--- name that starts with name.
function M.find_definitions(name, opts, callback)
  local params = { name = name, prefix = (opts and opts.prefix) or false }
  local bufnr = vim.api.nvim_get_current_buf()
  if vim.api.nvim_buf_get_name(bufnr) ~= '' then
    params.textDocument = { uri = vim.uri_from_bufnr(bufnr) }
  end
  request('chorus/findDefinitions', params, callback)
end

--- chorus/indexStatus of the current chorus client; callback(err, status).
function M.index_status(callback)
  -- An empty Lua table would be sent as [], the server wants an object.
  request('chorus/indexStatus', vim.empty_dict(), callback)
end

--- Quickfix items for the result of chorus/findDefinitions.
function M.to_quickfix(definitions)
  local items = {}
  for _, d in ipairs(definitions or {}) do
    local sig = (d.signature ~= nil and d.signature ~= '') and d.signature or d.name
    table.insert(items, {
      filename = vim.uri_to_fname(d.uri),
      lnum = d.line + 1,
      text = d.kind .. ': ' .. sig:gsub('%s*\n%s*', ' '),
    })
  end
  return items
end

local function find_command(args)
  local name = args.args
  M.find_definitions(name, { prefix = args.bang }, function(err, result)
    if err then
      echo('chorus: ' .. (err.message or tostring(err)), 'ErrorMsg')
      return
    end
    local items = M.to_quickfix(result)
    vim.fn.setqflist({}, ' ', { title = 'chorus: ' .. name, items = items })
    if #items == 0 then
      echo('chorus: no definition of ' .. name, 'WarningMsg')
    else
      vim.cmd('botright copen')
    end
  end)
end

local function status_command()
  M.index_status(function(err, st)
    if err then
      echo('chorus: ' .. (err.message or tostring(err)), 'ErrorMsg')
    elseif st.ready == nil then
      echo('chorus: no workspace folder, nothing indexed')
    elseif st.ready then
      echo(string.format('chorus: index ready, %d files', st.files))
    else
      echo(string.format('chorus: indexing, %d of %d files done',
        st.filesDone or 0, st.filesSeen or 0))
    end
  end)
end

--- Starts chorus for the supported filetypes. Options: cmd, filetypes,
--- root_markers; anything else is passed on to vim.lsp.start_client().
--- Calling it again replaces the previous options (running clients stay).
function M.setup(opts)
  opts = opts or {}
  config = {
    cmd = opts.cmd or M.defaults.cmd,
    filetypes = opts.filetypes or M.defaults.filetypes,
    root_markers = opts.root_markers or M.defaults.root_markers,
    client_options = {},
  }
  for k, v in pairs(opts) do
    if k ~= 'cmd' and k ~= 'filetypes' and k ~= 'root_markers' then
      config.client_options[k] = v
    end
  end

  local group = vim.api.nvim_create_augroup('chorus', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = config.filetypes,
    callback = function(ev)
      M.attach(ev.buf)
    end,
    desc = 'chorus: attach the language server',
  })
  vim.api.nvim_create_user_command('ChorusFind', find_command, {
    nargs = 1,
    bang = true,
    desc = 'chorus: definitions of NAME in the quickfix list (! for a prefix)',
  })
  vim.api.nvim_create_user_command('ChorusStatus', status_command, {
    nargs = 0,
    desc = 'chorus: state of the repository index',
  })

  -- Buffers opened before setup() ran.
  local wanted = {}
  for _, ft in ipairs(config.filetypes) do
    wanted[ft] = true
  end
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr)
        and wanted[vim.api.nvim_buf_get_option(bufnr, 'filetype')] then
      M.attach(bufnr)
    end
  end
end

return M
