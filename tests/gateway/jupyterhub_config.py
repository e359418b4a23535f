# JupyterHub for the gateway tests (from ../shared/recipes/jupyterhub): serves its REST API
# directly, with no configurable-http-proxy. Started by tests/gateway/support.py:
#   KAON_HUB_DIR=DIR KAON_HUB_PORT=P KAON_HUB_SERVICE_TOKEN=T jupyterhub -f jupyterhub_config.py
import os

from jupyterhub.proxy import Proxy
from traitlets import Bool


class NoopProxy(Proxy):
    """Keeps routes in memory and proxies nothing; the hub API is reached on hub_bind_url."""

    should_start = Bool(False)

    def __init__(self, **kw):
        super().__init__(**kw)
        self._routes = {}

    async def add_route(self, routespec, target, data):
        routespec = self.validate_routespec(routespec)
        self._routes[routespec] = {
            "routespec": routespec,
            "target": target,
            "data": data,
        }

    async def delete_route(self, routespec):
        self._routes.pop(routespec, None)

    async def get_all_routes(self):
        return dict(self._routes)


c = get_config()  # noqa: F821
HERE = os.environ.get("KAON_HUB_DIR", os.getcwd())
PORT = int(os.environ.get("KAON_HUB_PORT", "18081"))
c.JupyterHub.proxy_class = NoopProxy
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{PORT}"
c.JupyterHub.bind_url = f"http://127.0.0.1:{PORT + 1}"  # nothing listens here
c.JupyterHub.db_url = f"sqlite:///{HERE}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{HERE}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{HERE}/jupyterhub.pid"
c.JupyterHub.cleanup_servers = False

c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {"alice", "bob"}  # created at startup
c.Authenticator.admin_users = {"admin"}
c.JupyterHub.spawner_class = "simple"

# The gateway registers as a hub service with its own token.
GATEWAY_TOKEN = os.environ.get(
    "KAON_HUB_SERVICE_TOKEN", "gateway-test-token-0123456789abcdef0123"
)
c.JupyterHub.services = [{"name": "kaon-gateway", "api_token": GATEWAY_TOKEN}]
c.JupyterHub.load_roles = [
    {
        "name": "gateway-role",
        "scopes": ["admin:users", "tokens", "read:users"],
        "services": ["kaon-gateway"],
    },
    # users' tokens may carry access:services, which a hub service checks before trusting them
    {"name": "user", "scopes": ["self", "access:services"]},
]
