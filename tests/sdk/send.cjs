// Sends one visitor's page view, identify, form submission and company (a group call) to
// Leadflow with a Node SDK exactly as a company's server would, changed only in the host, then flushes and exits
// (non-zero, printing why, if the SDK reports an error).
// Usage: node send.cjs segment|rudderstack LEADFLOW_URL WRITE_KEY
"use strict";

const [sdk, leadflow, writeKey] = process.argv.slice(2);
const traits = {
  email: "ada@example.com", firstName: "Ada", title: "CTO",
  address: { city: "San José" }, employees: 12, plan: "family",
};
const company = { name: "Acme", industry: "Software", employees: 250, plan: "enterprise" };
const errors = [];

async function main() {
  let client;
  if (sdk === "segment") {
    const { Analytics } = require("@segment/analytics-node");
    client = new Analytics({ writeKey, host: leadflow, flushAt: 1 });
    client.on("error", (error) => errors.push(error));
  } else if (sdk === "rudderstack") {
    const Analytics = require("@rudderstack/rudder-sdk-node");
    client = new Analytics(writeKey, {
      dataPlaneUrl: leadflow, flushAt: 1, logLevel: "error", errorHandler: (error) => errors.push(error),
    });
  } else {
    throw new Error(`unknown SDK ${sdk}`);
  }
  client.page({ anonymousId: "anon-7", name: "Pricing", properties: { url: "https://toys.example/pricing" } });
  client.identify({ userId: "u-42", anonymousId: "anon-7", traits });
  client.track({ userId: "u-42", event: "Form Submitted", properties: { form: "newsletter" }, context: { traits: { email: traits.email } } });
  client.group({ userId: "u-42", groupId: "acme-42", traits: company, context: { traits: { email: traits.email } } });
  if (sdk === "segment") {
    await client.closeAndFlush();
  } else {
    await client.flush();
  }
  if (errors.length) {
    console.error(errors.map(String).join("\n"));
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(String(error && error.stack || error));
  process.exit(1);
});
