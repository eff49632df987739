"""The county console in a browser (DESIGN §11, issue 11), served by every ``hub serve``
process: operators' queues and cases, supervision, the trail, alarms, nodes, accounts, and
the public status lookup (办件查询)."""
