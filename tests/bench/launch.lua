-- wrk script: POSTs pre-signed launches, lines [first, last) of a file cut into one
-- contiguous slice per thread, each line once (a line used twice would be a replay,
-- refused with 401 and counted by wrk as a non-2xx/3xx answer).
local counter = 0
function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
end

function init(args)
    local path, nthreads = args[1], tonumber(args[2])
    local first, last = tonumber(args[3]), tonumber(args[4])
    bodies, idx, n = {}, 1, 0
    local per = math.floor((last - first) / nthreads)
    local lo, hi = first + id * per, first + (id + 1) * per
    local i = 0
    for line in io.lines(path) do
        if i >= lo and i < hi then
            n = n + 1
            bodies[n] = line
        end
        i = i + 1
    end
    hdrs = {["Content-Type"] = "application/x-www-form-urlencoded"}
end

function request()
    local b = bodies[idx]
    if idx < n then idx = idx + 1 end
    return wrk.format("POST", "/ptech/lti11", hdrs, b)
end
