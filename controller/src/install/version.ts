// The release this build is; the waypoint and controller images are tagged with it.
export const VERSION = '0.1.0';
