"""`livefilter ui`: the local page (server, live, review and photo sessions, static page)."""
