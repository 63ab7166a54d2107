// azurite-create-container NAME [NAME...] (a sh wrapper runs this with node): create blob containers in the running Azurite
// (MLflow never creates the container named in its wasbs:// URI, and the MLflow server image
// has no Azure CLI). Signs with Shared Key like the SDKs do; idempotent: prints
// "created NAME" (HTTP 201) or "exists NAME" (409 ContainerAlreadyExists), exits 1 on
// anything else. Environment: AZURITE_ACCOUNT (devstoreaccount1), AZURITE_KEY (the
// well-known emulator key), AZURITE_BLOB_URL (http://127.0.0.1:10000).
"use strict";
const crypto = require("crypto");
const http = require("http");

const account = process.env.AZURITE_ACCOUNT || "devstoreaccount1";
const key = process.env.AZURITE_KEY ||
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const base = new URL(process.env.AZURITE_BLOB_URL || "http://127.0.0.1:10000");
const names = process.argv.slice(2);
if (names.length === 0) {
  console.error("usage: azurite-create-container NAME [NAME...]");
  process.exit(2);
}

function create(name) {
  return new Promise((resolve) => {
    const path = `/${account}/${name}`;
    const headers = { "x-ms-date": new Date().toUTCString(), "x-ms-version": "2021-08-06" };
    // Shared Key string to sign: verb, 11 empty standard headers (Content-Length "" when 0),
    // canonicalized x-ms-* headers, then /ACCOUNT + path-style path + query parameters.
    const toSign = ["PUT", "", "", "", "", "", "", "", "", "", "", "",
      `x-ms-date:${headers["x-ms-date"]}`, `x-ms-version:${headers["x-ms-version"]}`,
      `/${account}${path}\nrestype:container`].join("\n");
    const sig = crypto.createHmac("sha256", Buffer.from(key, "base64")).update(toSign, "utf8").digest("base64");
    headers.Authorization = `SharedKey ${account}:${sig}`;
    headers["Content-Length"] = 0;
    const req = http.request({ method: "PUT", hostname: base.hostname, port: base.port || 80,
      path: `${path}?restype=container`, headers }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        if (res.statusCode === 201) { console.log(`created ${name}`); resolve(true); }
        else if (res.statusCode === 409 && body.includes("ContainerAlreadyExists")) { console.log(`exists ${name}`); resolve(true); }
        else { console.error(`failed ${name}: HTTP ${res.statusCode} ${body.replace(/\s+/g, " ")}`); resolve(false); }
      });
    });
    req.on("error", (e) => { console.error(`failed ${name}: ${e.message}`); resolve(false); });
    req.end();
  });
}

(async () => {
  let ok = true;
  for (const n of names) ok = (await create(n)) && ok;
  process.exit(ok ? 0 : 1);
})();
