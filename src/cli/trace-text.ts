// `vpcep trace` as readable text: one FIELD/VALUE row per step of the decision, in the order the
// data plane takes them (route steps for a route, admission steps for an interface endpoint).
type Json = any; // an API body: printed, not trusted

const OUTCOME: Record<string, string> = { reset: ' (reset)', connection_refused: ' (connection refused: nothing listens)' };

export function traceRows(t: Json): string[][] {
  const iface = t.target_type === 'interface_endpoint';
  const rows: string[][] = [['client', `${t.source_ip} ${t.vpc_id ? `in ${t.vpc_id}` : 'on premises (outside every VPC)'} -> ${t.destination_ip}:${t.destination_port}`]];
  if (!iface) {
    rows.push(
      ['subnet', t.subnet ? `${t.subnet.id} (${t.subnet.cidr})` : 'none'],
      ['route table', t.route_table ? `${t.route_table.id} (${t.route_table.chosen_by})` : 'none'],
      ...t.candidates.map((c: Json, i: number) => [i === 0 ? 'candidates' : '', `${c.destination} (${c.matched}) -> ${c.type}${c.nexthop ? ` ${c.nexthop}` : ''} [${c.owner}]`]),
      ['winner', t.winner ? `${t.winner.destination} -> ${t.winner.type}: ${t.winner.why}` : 'none'],
    );
  }
  rows.push(
    ['service', t.service ? `${t.service.name} -> ${t.service.target}${t.service.status ? ` (${t.service.status})` : ''}` : 'none'],
    ['isolation', t.isolation ? t.isolation.rule : '-'],
    ['endpoint', t.endpoint ? `${t.endpoint.id} (${t.endpoint.status})` : '-'],
    ...(t.node ? [['node', `${t.node.name ?? t.node.id} (${t.node.address ?? 'address unknown'})${t.node.self ? ', this node' : ''}${t.node.live ? '' : ': its lease has expired'}`]] : []),
    ...(t.eni ? [['eni', `${t.eni.ip} (${t.eni.host_ip}) in zone ${t.eni.zone}${t.eni.zone_up ? '' : ' (down)'}`]] : []),
  );
  rows.push(['listener', t.listener ? `${t.listener.address} ${t.listener.bound ? 'bound' : `not bound: ${t.listener.why}`}` : '-']);
  if (iface) {
    // in admit()'s order: the whitelist, the ENI's subnet's network ACL, the ENI's security groups
    // (an ACL or groups not enforced on this endpoint: no row)
    rows.push(['whitelist', t.whitelist ? t.whitelist.rule : '-']);
    if (t.network_acl) rows.push(['network acl', t.network_acl.rule]);
    if (t.security_group) rows.push(['security group', t.security_group.rule]);
  }
  rows.push(
    ['policy', t.policy ? `${t.policy.allowed ? 'allow' : 'deny'}: ${t.policy.reason}` : '-'],
    ['cap', t.cap ? `${t.cap.active} of ${t.cap.cap} (headroom ${t.cap.headroom})` : '-'],
  );
  const d = t.daemon;
  rows.push(['daemon', d ? `${d.active} of ${d.max_connections} connections (headroom ${d.headroom}); descriptors ${d.fd_in_use} of ${d.fd_budget} (room for ${d.fd_headroom_connections} more connections)` : '-']);
  if (iface) rows.push(['backend', t.backend ? `${t.backend.target}: ${t.backend.chosen_by}` : '-']);
  rows.push(
    ['backend sees', t.source?.seen_as ?? t.backend_source ?? '-'],
    ['verdict', `${t.verdict}${OUTCOME[t.outcome] ?? ''}${t.refusal ? ` [${t.refusal}]` : ''}: ${t.reason}`],
    ['not predicted', `${t.live_only.join(', ')} (known only when the connection is tried)`],
  );
  return rows;
}
