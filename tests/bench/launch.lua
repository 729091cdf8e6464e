-- wrk script: POSTs pre-signed LTI 1.1 launches, each once.  Thread K reads its own file,
-- PREFIX.K (bench.py's thread_slices), one line per request, so that no thread starts
-- sending while another still loads its lines before wrk's timer starts.  A thread that
-- runs out sends its last line again: a replay, refused with 401 and counted by wrk as a
-- non-2xx/3xx answer.
local counter = 0
function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
end

function init(args)
    f = assert(io.open(args[1] .. "." .. id, "r"))
    hdrs = {["Content-Type"] = "application/x-www-form-urlencoded"}
end

function request()
    local line = f:read("*l")
    if line then last = line end
    return wrk.format("POST", "/ptech/lti11", hdrs, last)
end
