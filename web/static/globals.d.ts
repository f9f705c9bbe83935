// The vendored players the pages load with a classic <script> (served under /vendor/ from
// web/node_modules), as the globals they define. Their npm packages ship the types. Only for
// the type check (`tsc -p web`): the server does not serve this file.

import type Hls from "hls.js";
import type * as tus from "tus-js-client";

declare global {
  interface Window {
    /** hls.js (/vendor/hls.min.js): absent when the server has no copy of it. */
    Hls?: typeof Hls;
    /** tus-js-client (/vendor/tus.min.js): absent when the server has no copy of it. */
    tus?: typeof tus;
  }
}

export {};
