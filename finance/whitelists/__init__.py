"""The white list (推荐白名单): firms the regulator recommends to banks for IP-pledge lending, with their
consent and the IP indicators the platform computes for each."""
