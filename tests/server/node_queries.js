// The Node.js driver against `mongozarr serve`: node node_queries.js URI
// Prints one JSON document of answers; the test compares them with PyMongo's.
const { MongoClient } = require("mongodb");

async function main(uri) {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 30000 });
  try {
    const db = client.db();
    const nodes = db.collection("zarr.nodes");
    const answers = {
      arrays: (await nodes.find({ "attributes.subject": "mouse-7", node_type: "array" })
        .project({ _id: 1 }).toArray()).map((d) => d._id),
      // batches of one: a find and then a getMore per document
      batched: (await nodes.find({}, { batchSize: 1 }).project({ _id: 1 }).toArray())
        .map((d) => d._id).sort(),
      bytes: await db.collection("zarr.chunks")
        .aggregate([{ $group: { _id: "$node", bytes: { $sum: "$size" } } }, { $sort: { _id: 1 } }])
        .toArray(),
      count: await nodes.countDocuments({ node_type: "array" }),
      subjects: (await nodes.distinct("attributes.subject")).map((v) => JSON.stringify(v)).sort(),
      collections: (await db.listCollections().toArray()).map((c) => c.name).sort(),
      indexes: (await nodes.listIndexes().toArray()).map((i) => i.name).sort(),
    };
    console.log(JSON.stringify(answers));
  } finally {
    await client.close();
  }
}

main(process.argv[2]).catch((error) => {
  console.error(error);
  process.exit(1);
});
