// Imports our DFC catalogue with DFC's own JavaScript connector (@datafoodconsortium/connector)
// and prints, as JSON, what the connector made of it: every imported object's type, each offer's
// price (value, VAT rate, unit resolved to a SKOS concept), each catalog item, product and
// enterprise, and whether every node IRI dereferences.  Used by tests/test_dfc_connector.py.
//
//   node import_catalogue.mjs <base URL of our server> < feed.json
//
// The connector resolves a referenced IRI (a price's dfc-b:hasUnit, a product's dfc-b:hasType…)
// from its store (what import() made) or else through its fetch function (Connector.fetch).
// Ours GETs only from <base>: this machine reaches no other host, and our IRIs must dereference
// from our own server.  Any other IRI is reported as not fetched.  DFC's taxonomies are not on
// the npm registry; a directory holding measures.json, productTypes.json… can be named in
// DFC_TAXONOMIES_DIR to load them (Connector.loadMeasures…) before the import.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Connector, ConnectorStoreMap } from "@datafoodconsortium/connector";

const SKOS = "http://www.w3.org/2004/02/skos/core#";
const base = process.argv[2];
if (!base) {
  console.error("usage: node import_catalogue.mjs <base URL> < feed.json");
  process.exit(2);
}
const origin = new URL(base).origin;
const requests = [];

async function fetchFromOurServer(iri) {
  const url = new URL(iri);
  url.hash = "";
  if (url.origin !== origin) {
    requests.push({ iri, url: url.href, status: null });
    throw new Error(`not fetched: ${url.href} is not on ${origin}`);
  }
  const response = await fetch(url.href); // as the connector's default fetch: no headers of ours
  requests.push({ iri, url: url.href, status: response.status, contentType: response.headers.get("content-type") });
  return response;
}

const connector = new Connector();
const store = new ConnectorStoreMap();
connector.setDefaultStore(store);
connector.setDefaultFetchFunction(fetchFromOurServer);
const semantizer = connector.getSemantizer();
const expand = (iri) => (iri === undefined ? undefined : semantizer.expand(iri));
const short = (iri) => (iri === undefined ? undefined : semantizer.shorten(iri));

const taxonomies = [];
const dir = process.env.DFC_TAXONOMIES_DIR;
for (const [file, load] of [["measures.json", "loadMeasures"], ["productTypes.json", "loadProductTypes"],
                            ["facets.json", "loadFacets"], ["vocabulary.json", "loadVocabulary"]]) {
  if (dir && existsSync(join(dir, file))) {
    await connector[load](readFileSync(join(dir, file), "utf8"));
    taxonomies.push(file);
  }
}

function number(value) {
  return Number.isFinite(value) ? value : null; // the connector's getters answer NaN for "absent"
}

function concept(object) {
  // A resolved unit / product type: the connector hands back a SKOSConcept (or whatever the
  // dereferenced document said the IRI is).  Literals read straight from its RDF.
  return {
    id: object.getSemanticId(),
    type: short(object.getSemanticType()),
    prefLabel: object.getSemanticPropertyAll(SKOS + "prefLabel"),
    notation: object.getSemanticPropertyAll(SKOS + "notation"),
    broader: object.getSemanticPropertyAll(SKOS + "broader").map(short),
    literals: [...object.toRdfDatasetExt()].filter((q) => q.object.termType === "Literal").map((q) => q.object.value),
  };
}

async function resolve(iri, get, describe = concept, via = undefined) {
  // How the connector resolves a reference: where from, and to what (or why not); null when
  // there is no reference.
  if (iri === undefined) return null;
  const id = expand(iri);
  const before = requests.length;
  const from = via ?? (id !== undefined && store.has(id) ? "store" : "fetch");
  try {
    const object = await get();
    const fetched = requests.slice(before).map((r) => ({ url: r.url, status: r.status }));
    if (!object) {
      return { iri: id, resolved: false, from, fetched, reason: "the connector returned undefined: no node of that @id "
        + "it could make (Connector.import drops a node whose first rdf:type ConnectorFactory.createFromType does not "
        + "know: a DFC business class, skos:Concept or skos:ConceptScheme)" };
    }
    return { iri: id, resolved: true, from, fetched, ...describe(object) };
  } catch (error) {
    const reason = typeof error === "number" ? `HTTP ${error}` : String(error?.message ?? error);
    const fetched = requests.slice(before).map((r) => ({ url: r.url, status: r.status }));
    return { iri: id, resolved: false, from, fetched, reason };
  }
}

const node = (o) => ({ id: o.getSemanticId(), type: short(o.getSemanticType()) });

async function dereference(iri, describe = node, remote = new ConnectorStoreMap()) {
  // Through our server, not from the import: with a store of its own, Connector.fetch GETs the
  // IRI (or finds it among the nodes of a document it GOT earlier for that store).
  const via = remote.has(expand(iri)) ? "an earlier GET" : "fetch";
  return resolve(iri, () => connector.fetch(iri, { store: remote }), describe, via);
}

const feed = readFileSync(0, "utf8");
const objects = await connector.import(feed);
const byType = (type) => objects.filter((o) => o.isSemanticTypeOf(type));

const offers = [];
for (const offer of byType("dfc-b:Offer")) {
  let price = null;
  try {
    price = offer.getPrice();
  } catch (error) {
    price = null;
  }
  const unitIri = price?.getSemanticProperty("dfc-b:hasUnit");
  offers.push({
    id: offer.getSemanticId(),
    price: price && {
      value: number(price.getQuantityValue()),
      vatRate: number(price.getVatRate()),
      unit: unitIri === undefined ? null : await resolve(unitIri, () => price.getQuantityUnit()),
    },
    offeredTo: await resolve(offer.getSemanticProperty("dfc-b:offeredTo"), () => offer.getCustomerCategory(),
                             (c) => ({ id: c.getSemanticId(), type: short(c.getSemanticType()), name: c.getName() })),
  });
}

const catalogItems = [];
for (const item of byType("dfc-b:CatalogItem")) {
  const product = await item.getOfferedProduct().catch(() => undefined);
  const offerers = await item.getOfferers().catch(() => []);
  catalogItems.push({
    id: item.getSemanticId(), sku: item.getSku() ?? null, stockLimitation: number(item.getStockLimitation()),
    product: product ? product.getSemanticId() : null, offers: offerers.map((o) => o.getSemanticId()),
  });
}

const products = [];
for (const product of byType("dfc-b:SuppliedProduct")) {
  let quantity = null;
  try {
    const q = product.getQuantity();
    const unitIri = q.getSemanticProperty("dfc-b:hasUnit");
    quantity = { value: number(q.getQuantityValue()),
                 unit: unitIri === undefined ? null : await resolve(unitIri, () => q.getQuantityUnit()) };
  } catch (error) {
    quantity = null;
  }
  products.push({
    id: product.getSemanticId(), name: product.getName() ?? null, quantity,
    productType: await resolve(product.getSemanticProperty("dfc-b:hasType"), () => product.getProductType()),
  });
}

const enterprises = [];
for (const enterprise of byType("dfc-b:Enterprise")) {
  const supplied = await enterprise.getSuppliedProducts().catch(() => []);
  const managed = await enterprise.getManagedCatalogItems().catch(() => []);
  const addresses = [];
  for (const iri of enterprise.getSemanticPropertyAll("dfc-b:hasAddress")) {
    addresses.push(await resolve(iri, () => connector.fetch(iri), (a) => ({
      id: a.getSemanticId(), type: short(a.getSemanticType()), street: a.getStreet?.() ?? null,
      city: a.getCity?.() ?? null, postalCode: a.getPostalCode?.() ?? null,
      country: a.getSemanticProperty("dfc-b:hasCountry") ?? null })));
  }
  enterprises.push({
    id: enterprise.getSemanticId(), name: enterprise.getName() ?? null,
    supplies: supplied.map((p) => p.getSemanticId()), manages: managed.map((i) => i.getSemanticId()), addresses,
  });
}

const unitIris = [...new Set(offers.map((o) => o.price?.unit?.iri).filter(Boolean))];
const units = [];
for (const iri of unitIris) units.push(await dereference(iri, concept));
const dereferenced = [];
const remote = new ConnectorStoreMap(); // one platform meeting our IRIs: each document GOT once
for (const object of objects) dereferenced.push(await dereference(object.getSemanticId(), node, remote));
const report = {
  connector: JSON.parse(readFileSync(new URL("./node_modules/@datafoodconsortium/connector/package.json",
                                             import.meta.url), "utf8")).version,
  taxonomies,
  objects: objects.map((o) => ({ id: o.getSemanticId(), type: short(o.getSemanticType()) })),
  offers, catalogItems, products, enterprises,
  // Each price unit and each imported node, dereferenced through our server as a DFC
  // platform that meets the IRI for the first time would.
  units, dereferenced,
  requests,
};
process.stdout.write(JSON.stringify(report, null, 1) + "\n");
