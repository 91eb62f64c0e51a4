// The placement decision as one PostgreSQL function, so a decision is one round trip and one
// transaction however many candidates it tries (on a loaded host every round trip is a chance to
// be descheduled). In order:
//   1. the project's quota row is locked (FOR UPDATE): concurrent placements of one project are
//      counted one at a time; its usage is the row's counters (kept by triggers on placements in
//      the same transaction as every placement change: QUOTA_USAGE below), not a sum of its
//      placements; over the quota raises SQLSTATE SBQ01 with what is over and the usage as JSON;
//   2. a sample of eligible nodes (ready, lease live by now(), labels containing the selector,
//      room for the request): k random ones plus k caching some of the image's layers. Random
//      without reading every node: each node has a random key (nodes_ready_rkey index), drawn
//      again whenever it takes a sandbox; the sample is the first k from a random point, wrapping;
//   3. ranked best first: twice the cached share of the image's layers, plus the fraction of
//      memory and of cpu left after the placement (spreads load); ties by name;
//   4. the best one is taken with a conditional UPDATE that re-checks the room under the row lock,
//      plus the placement row, in one statement; a placer that lost the race to another replica
//      moves on to the next candidate (three fresh samples at most).
// No row back: no eligible node has room. The row names the control replica that placed it
// (p_owner, its lease id), so a create whose replica died is swept by its liveness (orphan-creates.ts);
// p_owner defaults to null so a replica of the version before it still places during an upgrade.
export const PLACE_FUNCTION = `
CREATE OR REPLACE FUNCTION sbx_place(p_sandbox text, p_project text, p_name text, p_cpu integer, p_mem integer,
    p_layers text[], p_selector jsonb, p_k integer, p_owner text DEFAULT NULL)
  RETURNS TABLE (node text, cached integer, candidates integer) LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  q record;
  c record;
  over text;
  seen integer;
  won integer;
  r float8;
BEGIN
  SELECT max_sandboxes, max_cpu_millis, max_memory_mb, used_sandboxes AS n, used_cpu_millis AS cpu,
      used_memory_mb AS mem
    INTO q FROM project_quotas WHERE project = p_project FOR UPDATE;
  IF FOUND THEN
    over := CASE
      WHEN q.max_sandboxes IS NOT NULL AND q.n + 1 > q.max_sandboxes THEN q.max_sandboxes || ' sandboxes'
      WHEN q.max_cpu_millis IS NOT NULL AND q.cpu + p_cpu > q.max_cpu_millis THEN (q.max_cpu_millis / 1000.0)::float8 || ' cpus'
      WHEN q.max_memory_mb IS NOT NULL AND q.mem + p_mem > q.max_memory_mb THEN q.max_memory_mb || ' MB of memory'
    END;
    IF over IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'SBQ01', MESSAGE = over,
        DETAIL = json_build_object('sandboxes', q.n, 'cpus', q.cpu / 1000.0, 'memoryMb', q.mem)::text;
    END IF;
  END IF;
  FOR attempt IN 1..3 LOOP
    seen := 0;
    r := random();
    FOR c IN
      WITH fits AS NOT MATERIALIZED (
        SELECT n.name, n.cpu_millis, n.memory_mb, n.cpu_millis - n.alloc_cpu_millis AS free_cpu,
          n.memory_mb - n.alloc_memory_mb AS free_mem, n.layers, n.rkey
        FROM nodes n
        WHERE n.state = 'ready' AND n.lease_expires_at > now() AND n.labels @> p_selector
          AND n.cpu_millis - n.alloc_cpu_millis >= p_cpu AND n.memory_mb - n.alloc_memory_mb >= p_mem),
      picked AS (
        (SELECT * FROM fits WHERE rkey >= r ORDER BY rkey LIMIT p_k)
        UNION
        (SELECT * FROM fits WHERE rkey < r ORDER BY rkey LIMIT p_k)
        UNION
        (SELECT * FROM fits WHERE cardinality(p_layers) > 0 AND fits.layers && p_layers LIMIT p_k)),
      scored AS (
        SELECT picked.*, (SELECT count(*) FROM unnest(picked.layers) AS l WHERE l = ANY(p_layers))::integer AS hits
        FROM picked)
      SELECT s.name, s.hits, count(*) OVER ()::integer AS total
      FROM scored s
      ORDER BY (CASE WHEN cardinality(p_layers) = 0 THEN 0 ELSE 2.0 * s.hits / cardinality(p_layers) END)
        + (s.free_mem - p_mem)::float8 / greatest(1, s.memory_mb)
        + (s.free_cpu - p_cpu)::float8 / greatest(1, s.cpu_millis) DESC, s.name
    LOOP
      seen := seen + 1;
      WITH taken AS (
        UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis + p_cpu, alloc_memory_mb = alloc_memory_mb + p_mem,
          alloc_sandboxes = alloc_sandboxes + 1, rkey = random()
        WHERE nodes.name = c.name AND state = 'ready' AND lease_expires_at > now()
          AND cpu_millis - alloc_cpu_millis >= p_cpu AND memory_mb - alloc_memory_mb >= p_mem
        RETURNING nodes.name)
      INSERT INTO placements (sandbox_id, node, project, cpu_millis, memory_mb, name, placed_by)
      SELECT p_sandbox, taken.name, p_project, p_cpu, p_mem, p_name, p_owner FROM taken;
      GET DIAGNOSTICS won = ROW_COUNT;
      IF won > 0 THEN
        node := c.name;
        cached := c.hits;
        candidates := c.total;
        RETURN NEXT;
        RETURN;
      END IF;
    END LOOP;
    EXIT WHEN seen = 0;
  END LOOP;
  RETURN;
END
$fn$;`;

// Per-project usage as counters on the project's quota row, so a decision reads one row instead of
// summing thousands of placements. A trigger on placements moves them in the same transaction as
// every insert, delete or resize (placement, release, freeing ended sandboxes, giving up), and
// only for projects with a quota row: projects without one take no extra lock. A new quota row
// starts from the sum of the project's placements (and setQuota recounts under the row's lock).
export const QUOTA_USAGE = `
ALTER TABLE project_quotas ADD COLUMN used_sandboxes integer NOT NULL DEFAULT 0,
  ADD COLUMN used_cpu_millis integer NOT NULL DEFAULT 0, ADD COLUMN used_memory_mb integer NOT NULL DEFAULT 0;
UPDATE project_quotas q SET used_sandboxes = s.n, used_cpu_millis = s.c, used_memory_mb = s.m
  FROM (SELECT project, count(*)::integer AS n, sum(cpu_millis)::integer AS c, sum(memory_mb)::integer AS m
        FROM placements GROUP BY project) s
  WHERE q.project = s.project;
CREATE FUNCTION sbx_quota_usage() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE project_quotas SET used_sandboxes = used_sandboxes - 1, used_cpu_millis = used_cpu_millis - OLD.cpu_millis,
      used_memory_mb = used_memory_mb - OLD.memory_mb WHERE project = OLD.project;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    UPDATE project_quotas SET used_sandboxes = used_sandboxes + 1, used_cpu_millis = used_cpu_millis + NEW.cpu_millis,
      used_memory_mb = used_memory_mb + NEW.memory_mb WHERE project = NEW.project;
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER placements_quota_usage AFTER INSERT OR DELETE OR UPDATE OF project, cpu_millis, memory_mb
  ON placements FOR EACH ROW EXECUTE FUNCTION sbx_quota_usage();
CREATE FUNCTION sbx_quota_init() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  SELECT count(*)::integer, coalesce(sum(cpu_millis), 0)::integer, coalesce(sum(memory_mb), 0)::integer
    INTO NEW.used_sandboxes, NEW.used_cpu_millis, NEW.used_memory_mb FROM placements WHERE project = NEW.project;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER project_quotas_init BEFORE INSERT ON project_quotas FOR EACH ROW EXECUTE FUNCTION sbx_quota_init();`;
