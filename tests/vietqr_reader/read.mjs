// Reads VietQR payloads, one a line on stdin, with vietnam-qr-pay's decoder (not ours) and
// prints, one JSON object a line, what it found: validity (its CRC check), provider, bank,
// account, amount, currency, country, purpose and initiation method.
import { createInterface } from "node:readline";
import pkg from "vietnam-qr-pay";

const { QRPay } = pkg;
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line) continue;
  const qr = new QRPay(line);
  console.log(JSON.stringify({
    valid: qr.isValid, provider: qr.provider?.name ?? null, guid: qr.provider?.guid ?? null,
    service: qr.provider?.service ?? null, bin: qr.consumer?.bankBin ?? null,
    account: qr.consumer?.bankNumber ?? null, amount: qr.amount ?? null, currency: qr.currency ?? null,
    nation: qr.nation ?? null, purpose: qr.additionalData?.purpose ?? null, initiation: qr.initMethod ?? null,
  }));
}
