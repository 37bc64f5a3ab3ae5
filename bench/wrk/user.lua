-- GET /api/user (authentication and one read: the lightest authenticated request).
function request()
   return wrk.format(nil, "/api/user")
end
