"""The web console: server-rendered pages for people (SMEs, banks, guarantors, the fund, the regulator).

Every page reads and writes through the API itself, called in-process with the signed-in user's token
(``console.client``), so each rule, check and message lives once, in the services behind the API.
"""
