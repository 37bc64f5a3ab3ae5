-- POST /api/namespaces with a name of its own per request: <prefix>t<thread>n<counter>.
-- The prefix is the script's argument (letters and digits; names are 3-32 of them).
local threads = 0

function setup(thread)
   threads = threads + 1
   thread:set("tid", threads)
end

local prefix = ""
local counter = 0

function init(args)
   prefix = (args[1] or "w") .. "t" .. tostring(tid) .. "n"
end

function request()
   counter = counter + 1
   local body = '{"name":"' .. prefix .. counter .. '"}'
   return wrk.format("POST", "/api/namespaces", nil, body)
end
