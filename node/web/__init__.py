"""What every tier's pages share (DESIGN §11, issue 11): the web server in a thread of the
serving process (``server``), passwords, tokens, CSRF and TOTP (``security``), accounts and
sessions in the tier's database (``accounts``), and the page toolkit -- templates with
autoescape, the one guard that checks a login and a form's CSRF token, error pages in Chinese
(``pages``). Static assets and the shared templates ship in this package; nothing is loaded
from the internet."""
