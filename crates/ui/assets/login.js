// The login form posts to Kibana's login endpoint; the answer sets the session cookie and says
// where to go next (the page that sent the browser here).
const form = document.getElementById('login-form');
const error = document.getElementById('error');
const params = new URLSearchParams(location.search);
if (params.get('msg') === 'LOGGED_OUT') {
  const m = document.getElementById('message');
  m.textContent = 'You have logged out.';
  m.hidden = false;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    error.textContent = 'Enter your username and password.';
    error.hidden = false;
    return;
  }
  const res = await fetch('/internal/security/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'kbn-xsrf': 'flotilla-ui' },
    credentials: 'same-origin',
    body: JSON.stringify({
      providerType: 'basic',
      providerName: 'basic',
      currentURL: location.href,
      params: { username, password },
    }),
  });
  if (res.ok) {
    const { location: next } = await res.json();
    location.assign(next);
    return;
  }
  error.textContent = res.status === 401
    ? 'Username or password is incorrect. Please try again.'
    : `Login failed (${res.status}).`;
  error.hidden = false;
  form.password.select();
});
