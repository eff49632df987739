"""The desk in a browser (DESIGN §11, issue 11): the village agent's and the township clerk's
pages, served by ``node run`` and ``township serve``. The pages call ``node.service``'s
actions, the same ones the CLI calls."""
