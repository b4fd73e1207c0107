// What a waypoint can compile of the routes it is given (HTTPRoute, GRPCRoute, VirtualService), shared by the
// waypoint (which leaves a refused route out of its route table) and the controller (which reports it on the
// route's status). Dependency-free, so `@ambit/mesh-api/routes` loads nothing else; the package index re-exports it.
export { RouteShapeError, checkHTTPRouteSpec, checkGRPCRouteSpec, checkVirtualServiceRoute, checkVirtualServiceSpec } from './shape.js';
