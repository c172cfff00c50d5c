-- The queue table churns: every job is one insert, one or two updates and one delete. With
-- the default autovacuum thresholds (20 % of the table) a burst of 10,000 leaves thousands of
-- dead rows that every claim's index scan walks over; vacuuming after 1,000 changes without a
-- cost pause keeps the head of the queue clean. The table is the migrating role's (pgmq's
-- after-create hands its members over on hosted projects).
alter table pgmq.q_work_queue set (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_insert_scale_factor = 0,
  autovacuum_vacuum_insert_threshold = 1000,
  autovacuum_vacuum_cost_delay = 0
);
