-- GET /api/namespaces?page=N, N cycling 1..pages (the script's argument, default 4).
-- The hello-world app answers every page with marid's page 1.
local pages = 4
local page = 0

function init(args)
   if args[1] then pages = tonumber(args[1]) end
end

function request()
   page = page % pages + 1
   return wrk.format(nil, "/api/namespaces?page=" .. page)
end
