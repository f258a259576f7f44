-- Up Migration
-- Partition ownership for fencing (DESIGN 4): a consumer that is assigned a partition bumps its
-- generation; every batch transaction of that partition first advances the partition's durable
-- offset *only if* the generation is still its own. A stale owner (a zombie resumed after its
-- partitions moved) therefore finds 0 rows and rolls its whole batch back. The row lock that
-- UPDATE takes also orders a new owner's claim after any batch the old owner has in flight.
CREATE TABLE partition_owners (
  consumer_group text NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL,
  generation bigint NOT NULL,
  durable_offset bigint,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);

GRANT SELECT, INSERT, UPDATE ON partition_owners TO turnvault_processor;

-- Down Migration
DROP TABLE partition_owners;
