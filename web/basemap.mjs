// Natural Earth countries (1:50m, from world-atlas) as GeoJSON for the theatre around Europe and the
// Black Sea: countries whose bounding box meets the theatre, coordinates rounded to 0.001 degree.
// Written into the Python package so the run report and the live map never fetch a base layer.
import { readFileSync, writeFileSync } from "node:fs";
import { feature } from "topojson-client";

const [west, south, east, north] = [-25, 25, 60, 72];
const topology = JSON.parse(readFileSync("node_modules/world-atlas/countries-50m.json", "utf8"));
const countries = feature(topology, topology.objects.countries);

const round = (c) => (typeof c[0] === "number" ? [+c[0].toFixed(3), +c[1].toFixed(3)] : c.map(round));
function bounds(coords, b = [180, 90, -180, -90]) {
  if (typeof coords[0] === "number") {
    return [Math.min(b[0], coords[0]), Math.min(b[1], coords[1]), Math.max(b[2], coords[0]), Math.max(b[3], coords[1])];
  }
  return coords.reduce((acc, c) => bounds(c, acc), b);
}
const meets = ([w, s, e, n]) => w <= east && e >= west && s <= north && n >= south;

const features = countries.features
  .filter((f) => f.geometry && meets(bounds(f.geometry.coordinates)))
  .map((f) => ({
    type: "Feature",
    properties: { name: f.properties.name },
    geometry: { type: f.geometry.type, coordinates: round(f.geometry.coordinates) },
  }));
const out = process.argv[2];
writeFileSync(out, JSON.stringify({
  type: "FeatureCollection",
  source: "Natural Earth 1:50m via world-atlas 2.0.2 (public domain)",
  bbox: [west, south, east, north],
  features,
}));
console.log(`${features.length} countries -> ${out}`);
