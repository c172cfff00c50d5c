// Own jobs: an anonymous sign-in (supabase-js auth.signInAnonymously()). Signed in, the API
// and Realtime act for the user, whose jobs only they see; signed out, the public demo.
//
// Owns the supabase-js client (one per page, shared with Realtime through supabaseClient) and
// the session; what else must change when the identity does is the caller's onSwitch.

import { setText, ui } from "./ui.js";

let supabase = null;
let session = null;

/** The page's supabase-js client, made on first use; null when supabase.js did not load. */
export function supabaseClient(config) {
  if (supabase) return supabase;
  if (!window.supabase || typeof window.supabase.createClient !== "function") return null;
  try {
    supabase = window.supabase.createClient(config.supabaseUrl, config.supabaseKey, {
      auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: false },
    });
  } catch {
    return null;
  }
  return supabase;
}

/** The current session (null: the public demo), for the Broadcast topic to join. */
export function currentSession() {
  return session;
}

/** The signed-in user's access token (refreshed by supabase-js when due), or null. */
export async function accessToken() {
  if (!supabase || !session) return null;
  const { data } = await supabase.auth.getSession();
  return data && data.session ? data.session.access_token : null;
}

function showAccount() {
  const signedIn = Boolean(session);
  ui.signIn.hidden = signedIn;
  ui.signOut.hidden = !signedIn;
  ui.form.dataset.owner = signedIn ? "user" : "public";
  setText(
    ui.accountText,
    signedIn
      ? `Private: signed in anonymously (${session.user.id.slice(0, 8)}). Only you see your jobs.`
      : "Public demo: everyone with this page sees these jobs.",
  );
}

/**
 * The sign-in and sign-out buttons. onSwitch runs after every change of identity (the list and
 * the detail view belong to the previous one); the returned promise settles once a session
 * kept from an earlier visit is restored, so the first read of the list is already the user's.
 */
export async function wireAccount(config, onSwitch) {
  const client = supabaseClient(config);
  if (!client) {
    ui.signIn.disabled = true;
    setText(ui.accountError, "Signing in needs supabase.js, which did not load.");
    return;
  }
  const switched = () => {
    onSwitch();
    showAccount();
  };
  ui.signIn.addEventListener("click", async () => {
    setText(ui.accountError, "");
    const { data, error } = await client.auth.signInAnonymously();
    if (error) {
      setText(ui.accountError, `Could not sign in: ${error.message}`);
      return;
    }
    session = data.session;
    switched();
  });
  ui.signOut.addEventListener("click", async () => {
    await client.auth.signOut();
    session = null;
    switched();
  });
  const { data } = await client.auth.getSession();
  session = data && data.session ? data.session : null;
  showAccount();
}
