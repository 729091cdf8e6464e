-- wrk script: POSTs prepared LTI 1.3 launches ("COOKIE<TAB>BODY" lines [first, last) of a
-- file, one contiguous slice per thread), each once with its own state cookie.
local counter = 0
function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
end

function init(args)
    local path, nthreads = args[1], tonumber(args[2])
    local first, last = tonumber(args[3]), tonumber(args[4])
    local per = math.floor((last - first) / nthreads)
    local lo, hi = first + id * per, first + (id + 1) * per
    cookies, bodies, idx, n = {}, {}, 1, 0
    local i = 0
    for line in io.lines(path) do
        if i >= lo and i < hi then
            local tab = line:find("\t", 1, true)
            n = n + 1
            cookies[n] = line:sub(1, tab - 1)
            bodies[n] = line:sub(tab + 1)
        end
        i = i + 1
    end
end

function request()
    local k = idx
    if idx < n then idx = idx + 1 end
    return wrk.format("POST", "/ptech/launch",
                      {["Content-Type"] = "application/x-www-form-urlencoded",
                       ["Cookie"] = cookies[k]}, bodies[k])
end
