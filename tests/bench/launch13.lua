-- wrk script: POSTs prepared LTI 1.3 launches ("COOKIE<TAB>BODY" lines), each once with
-- its own state cookie.  Thread K reads its own file, PREFIX.K (bench.py's thread_slices),
-- one line per request (see launch.lua).
local counter = 0
function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
end

function init(args)
    f = assert(io.open(args[1] .. "." .. id, "r"))
end

function request()
    local line = f:read("*l")
    if line then last = line end
    local tab = last:find("\t", 1, true)
    return wrk.format("POST", "/ptech/launch",
                      {["Content-Type"] = "application/x-www-form-urlencoded",
                       ["Cookie"] = last:sub(1, tab - 1)}, last:sub(tab + 1))
end
