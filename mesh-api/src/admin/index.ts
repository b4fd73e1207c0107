// The admin HTTP server every process's admin, stats and health ports run on.
export { AdminServer, type AdminServerOptions, type AdminRoute, type AdminHandler, type AdminRequest, type AdminResponse } from './server.js';
