// supabase-js under Node, subscribing to one private Broadcast topic as the given user token,
// optionally with replay. Prints one JSON line per event: {"status": ...} for the subscribe
// states, {"broadcast": payload} per message. Exits after `want` messages (or on an error).
//   node broadcast_node_client.mjs <supabaseUrl> <apikey> <userToken> <topic> <want> [sinceMs]
// The page's own supabase-js (frontend/node_modules), named by SUPABASE_JS_FROM.
import { createRequire } from 'node:module'

const { createClient } = createRequire(process.env.SUPABASE_JS_FROM)('@supabase/supabase-js')

const [url, apikey, token, topic, wantText, since] = process.argv.slice(2)
const want = Number(wantText)
const supabase = createClient(url, apikey, {
  auth: { persistSession: false, autoRefreshToken: false },
  realtime: { params: { eventsPerSecond: 1000 } },
})
await supabase.realtime.setAuth(token)
const broadcast = since === undefined ? {} : { replay: { since: Number(since), limit: 25 } }
let seen = 0
const out = (line) => process.stdout.write(JSON.stringify(line) + '\n')
supabase
  .channel(topic, { config: { private: true, broadcast } })
  .on('broadcast', { event: 'job' }, (payload) => {
    out({ broadcast: payload })
    seen += 1
    if (seen >= want) process.exit(0)
  })
  .subscribe((status, err) => {
    out({ status, error: err ? String(err.message || err) : null })
    if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') process.exit(2)
    if (status === 'SUBSCRIBED' && want === 0) process.exit(0)
  })
setTimeout(() => { out({ status: 'GAVE_UP' }); process.exit(3) }, 20000)
